package input

import (
	"context"
	"errors"
	"fmt"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// ScaleReader reads the object a scale subresource request writes to
// (the Deployment of deployments/scale) from the cluster, as the API
// server stores it: JSON with at least metadata, managedFields included.
// Implementations read live or from a cache that is provably fresh; they
// are bounded in time and say why a read failed.
type ScaleReader interface {
	ReadParent(ctx context.Context, resource metav1.GroupVersionResource, namespace, name string) ([]byte, error)
}

// WithScaleReader returns a builder that reads the parents of scale
// requests with r (serve --cluster). Without one every scale request that
// changes something gets a parent_unreadable input error.
func (b *Builder) WithScaleReader(r ScaleReader) *Builder {
	c := *b
	c.scale = r
	return &c
}

// scaleKinds are the kinds whose scale requests driftguard judges, by
// group/resource: the apps/v1 workloads the webhook rules register. A
// review naming any other resource is never read from the cluster (a
// caller of the webhook port must not make driftguard read, and tell about,
// objects of its choosing): it gets a parent_unreadable input error.
var scaleKinds = map[string]string{
	"apps/deployments":  "Deployment",
	"apps/statefulsets": "StatefulSet",
	"apps/replicasets":  "ReplicaSet",
}

// Parent is the object a subresource request writes to. For a scale
// request the review carries an autoscaling/v1 Scale, while the object
// whose fields change (and whose managedFields say who owns them) is the
// Deployment, StatefulSet or ReplicaSet of the same name.
type Parent struct {
	APIVersion, Kind, Resource, Namespace, Name string
	SubResource                                 string
	// Read is true when the parent was read from the cluster; UID and
	// ResourceVersion are then the stored object's.
	Read                 bool
	UID, ResourceVersion string
}

// Ref is "Deployment tenant-a/api" for messages.
func (p *Parent) Ref() string {
	if p.Namespace == "" {
		return p.Kind + " " + p.Name
	}
	return p.Kind + " " + p.Namespace + "/" + p.Name
}

func (p *Parent) doc() map[string]any {
	d := map[string]any{
		"apiVersion": p.APIVersion, "kind": p.Kind, "resource": p.Resource,
		"namespace": p.Namespace, "name": p.Name, "subResource": p.SubResource,
		"read": p.Read,
	}
	if p.Read {
		d["uid"], d["resourceVersion"] = p.UID, p.ResourceVersion
	}
	return d
}

// IsScale reports whether req is a request for a scale subresource. Every
// one is judged by its parent's ownership (never by whatever managedFields
// the review's Scale carries); the webhook rules register those of apps/v1
// Deployments, StatefulSets and ReplicaSets.
func IsScale(req *admissionv1.AdmissionRequest) bool {
	return req.SubResource == "scale"
}

func scaleParent(req *admissionv1.AdmissionRequest) *Parent {
	r := req.Resource
	kind := scaleKinds[r.Group+"/"+r.Resource]
	if kind == "" {
		kind = r.Resource // not judged: named by its resource
	}
	apiVersion := r.Version
	if r.Group != "" {
		apiVersion = r.Group + "/" + r.Version
	}
	return &Parent{APIVersion: apiVersion, Kind: kind, Resource: r.Resource, Namespace: req.Namespace, Name: req.Name, SubResource: req.SubResource}
}

// buildScale builds the input of a scale request. object and oldObject are
// the Scales (without managedFields); changes are the Scale's, and
// spec.replicas, which the API server writes to the parent's
// spec.replicas, is attributed by the parent's managedFields as read from
// the cluster. managedFields on the review's Scales are ignored: whoever
// can reach the webhook port could forge them.
func (b *Builder) buildScale(ctx context.Context, req *admissionv1.AdmissionRequest) (*Input, error) {
	in := &Input{Request: req, Parent: scaleParent(req)}
	var err error
	if in.Object, _, err = DecodeObject(req.Object.Raw); err != nil {
		return nil, fmt.Errorf("request.object: %w", err)
	}
	if in.OldObject, _, err = DecodeObject(req.OldObject.Raw); err != nil {
		return nil, fmt.Errorf("request.oldObject: %w", err)
	}
	in.Actor = b.actor(req, in.Object, in.OldObject)
	// The API server copies only spec.replicas from a Scale to its parent:
	// an annotation on the Scale is never stored, so it can neither carry a
	// break-glass reason nor a drift record (and nobody is told to try).
	in.Actor.BreakGlassReason, in.Actor.BreakGlass, in.Actor.BreakGlassInfo = "", false, BreakGlass{}
	in.Exempt = b.exempt(req)
	if in.Exempt != "" || req.Operation != admissionv1.Update {
		in.Doc = b.doc(ctx, in, nil)
		return in, nil
	}
	in.Changes = Diff(in.OldObject, in.Object)
	if len(in.Changes) == 0 {
		// nothing changes (e.g. scaling to the current count): nothing to read
		in.Doc = b.doc(ctx, in, nil)
		return in, nil
	}
	parent, ctrl, why := b.readScaleParent(ctx, in)
	if why != "" {
		in.Errors = append(in.Errors, InputError{
			Reason: ReasonParentUnreadable,
			Message: fmt.Sprintf("this scale request changes spec.replicas of %s, and driftguard cannot tell who owns it: %s",
				in.Parent.Ref(), why),
		})
		in.Doc = b.doc(ctx, in, nil)
		return in, nil
	}
	in.ObjectOwner, in.ObjectVia = b.objectOwner(parent.obj, ctrl, &managedInfo{declared: parent.declared})
	for i := range in.Changes {
		b.attributeScale(in, &in.Changes[i], parent)
	}
	in.Doc = b.doc(ctx, in, ctrl)
	return in, nil
}

// scaleParentObject is a parent as read from the cluster, with its
// managedFields entries that can own spec.replicas (the main resource's
// and the scale subresource's).
type scaleParentObject struct {
	obj      map[string]any
	declared []ManagedSet
	others   []ManagedSet
}

// readScaleParent reads the parent; why says what went wrong ("" when
// nothing did).
func (b *Builder) readScaleParent(ctx context.Context, in *Input) (*scaleParentObject, *ownerRef, string) {
	p := in.Parent
	if scaleKinds[in.Request.Resource.Group+"/"+in.Request.Resource.Resource] == "" {
		return nil, nil, "driftguard judges the scale subresource of apps Deployments, StatefulSets and ReplicaSets only"
	}
	if b.scale == nil {
		return nil, nil, "there is no cluster connection to read it from (serve --cluster reads it; driftguard eval and serve without --cluster cannot)"
	}
	gvr := in.Request.Resource
	raw, err := b.scale.ReadParent(ctx, gvr, p.Namespace, p.Name)
	if err == nil && len(raw) == 0 {
		err = errors.New("empty answer")
	}
	if err != nil {
		return nil, nil, fmt.Sprintf("reading it from the cluster failed: %v", err)
	}
	obj, mf, err := DecodeObject(raw)
	if err != nil || obj == nil {
		return nil, nil, fmt.Sprintf("what the cluster returned for it is not an object: %v", err)
	}
	md, _ := obj["metadata"].(map[string]any)
	uid, _ := md["uid"].(string)
	rv, _ := md["resourceVersion"].(string)
	// the Scale carries its parent's uid: a different one means the parent
	// was deleted and created again since the API server read it
	if old, _ := in.OldObject["metadata"].(map[string]any); old != nil {
		if scaleUID, _ := old["uid"].(string); scaleUID != "" && uid != "" && scaleUID != uid {
			return nil, nil, "the object was replaced since the API server read it (its uid differs from the review's Scale)"
		}
	}
	sets, err := parseManagedFields(mf, func(_, sub string) bool { return sub == "" || sub == "scale" })
	if err != nil {
		return nil, nil, fmt.Sprintf("its managedFields cannot be parsed: %v", err)
	}
	po := &scaleParentObject{obj: obj}
	for _, s := range sets {
		if b.ownerOfManager(s.Manager) != "" {
			po.declared = append(po.declared, s)
		} else {
			po.others = append(po.others, s)
		}
	}
	p.Read, p.UID, p.ResourceVersion = true, uid, rv
	return po, controllerRef(obj), ""
}

var scaleReplicas = fieldpath.MakePathOrDie("spec", "replicas")

// attributeScale finds who owns a change of a Scale. Only spec.replicas
// reaches the parent (the API server ignores the rest of a Scale), and it
// is the parent's spec.replicas: declared owners' managers first, then
// every other manager, then the parent's declared owner (owner annotation
// or a controlling owner of a declared kind).
func (b *Builder) attributeScale(in *Input, c *Change, p *scaleParentObject) {
	// a Scale's spec is replicas only: any change of it (spec.replicas, or
	// spec itself in a malformed review) is one of the parent's spec.replicas
	if c.Path != "spec" && !strings.HasPrefix(c.Path, "spec.") {
		return
	}
	for _, m := range p.declared {
		if Owns(m.Set, scaleReplicas) {
			c.Managers = append(c.Managers, m.Manager)
			if c.Owner == "" {
				c.Owner, c.Via = b.ownerOfManager(m.Manager), "managedFields"
			}
		}
	}
	if c.Owner == "" {
		for _, m := range p.others {
			if Owns(m.Set, scaleReplicas) {
				c.Managers = append(c.Managers, m.Manager)
			}
		}
	}
	if c.Owner == "" && in.ObjectOwner != "" && in.ObjectVia != "managedFields" {
		c.Owner, c.Via = in.ObjectOwner, in.ObjectVia
	}
}
