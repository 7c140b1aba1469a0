// Package input turns an AdmissionRequest into the document policies
// evaluate: who is acting, which fields change, who owns them, and what
// the controlling owner will do. docs/policy-input.md describes it.
package input

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/driftguard/driftguard/internal/baseline"
	"github.com/driftguard/driftguard/internal/config"
)

// ParentLookup fetches the controlling owner object (for its settings,
// such as spec.paused). Implementations must be fast (cached) and return
// (nil, nil) when the parent is unknown.
type ParentLookup interface {
	Parent(ctx context.Context, apiVersion, kind, namespace, name string) (map[string]any, error)
}

// BaselineLookup tells which permission-baseline needs depend on an RBAC
// object alone (internal/baseline.Keeper).
type BaselineLookup interface {
	Dependents(kind, namespace, name string) []baseline.Need
}

// Builder builds policy input from admission requests. It is immutable
// and safe for concurrent use; build a new one when config changes.
type Builder struct {
	cfg          *config.Config
	managerOwner map[string]string
	userOwner    map[string]string
	groupOwner   map[string]string
	saOwner      map[string]string
	kindOwner    map[config.GroupKind]string
	ownerKinds   map[config.GroupKind]*config.OwnerKind
	exemptNS     map[string]bool
	exemptUsers  map[string]bool
	exemptGroups map[string]bool
	breakGlass   map[string]bool
	handEditMgr  map[string]bool
	matrix       map[string][]matrixEntry // by kind
	matrixInputs map[string][]matrixInput // by ConfigMap namespace/name
	parents      ParentLookup
	baseline     BaselineLookup
	managed      *managedCache
	admins       *admins
	now          func() time.Time
	scale        ScaleReader // parents of scale requests (scale.go)
}

// WithClock sets the clock break-glass expiries are checked against (tests).
func (b *Builder) WithClock(now func() time.Time) *Builder {
	c := *b
	c.now = now
	return &c
}

// WithBaseline adds the permission-baseline index to RBAC requests' input.
func (b *Builder) WithBaseline(l BaselineLookup) *Builder {
	b.baseline = l
	return b
}

// WithoutCache turns off the managedFields cache (benchmarks of cold
// requests use it).
func (b *Builder) WithoutCache() *Builder {
	c := *b
	c.managed = nil
	return &c
}

// NewBuilder indexes the config for fast lookups.
func NewBuilder(cfg *config.Config, parents ParentLookup) *Builder {
	b := &Builder{
		cfg:          cfg,
		managerOwner: map[string]string{},
		userOwner:    map[string]string{},
		groupOwner:   map[string]string{},
		saOwner:      map[string]string{},
		kindOwner:    map[config.GroupKind]string{},
		ownerKinds:   map[config.GroupKind]*config.OwnerKind{},
		exemptNS:     set(cfg.Exempt.Namespaces),
		exemptUsers:  set(cfg.Exempt.Users),
		exemptGroups: set(cfg.Exempt.Groups),
		breakGlass:   set(cfg.BreakGlass.Groups),
		handEditMgr:  map[string]bool{},
		matrix:       map[string][]matrixEntry{},
		matrixInputs: map[string][]matrixInput{},
		parents:      parents,
		managed:      newManagedCache(1024),
		admins:       newAdmins(cfg.Admins),
		now:          time.Now,
	}
	// manager names match case-insensitively (see lookupManager)
	for _, m := range cfg.HandEditManagers {
		b.handEditMgr[config.FoldManager(m)] = true
	}
	for _, o := range cfg.Owners {
		for _, m := range o.Managers {
			b.managerOwner[config.FoldManager(m)] = o.Name
		}
		for _, u := range o.Identities.Users {
			b.userOwner[u] = o.Name
		}
		for _, g := range o.Identities.Groups {
			b.groupOwner[g] = o.Name
		}
		for _, sa := range o.Identities.ServiceAccounts {
			b.saOwner[sa] = o.Name
		}
		for _, k := range o.Kinds {
			b.kindOwner[k] = o.Name
		}
	}
	for i := range cfg.OwnerKinds {
		k := &cfg.OwnerKinds[i]
		b.ownerKinds[k.GroupKind] = k
	}
	for _, c := range cfg.VersionMatrix {
		for _, w := range c.Workloads {
			b.matrix[w.Kind] = append(b.matrix[w.Kind], matrixEntry{component: c.Name, image: c.Image, w: w})
		}
		for _, in := range c.Inputs {
			b.matrixInputs[in.ConfigMap] = append(b.matrixInputs[in.ConfigMap], matrixInput{component: c.Name, key: in.Key, value: in.Value})
		}
	}
	return b
}

// Config returns the config the builder was made from.
func (b *Builder) Config() *config.Config { return b.cfg }

// Input is the enriched request. Doc is what Rego sees as `input`.
type Input struct {
	Request   *admissionv1.AdmissionRequest
	Object    map[string]any
	OldObject map[string]any
	Actor     Actor
	Changes   []Change
	// ObjectOwner is the declared owner of the object as a whole.
	ObjectOwner string
	ObjectVia   string
	// Exempt is why the request is not evaluated ("" when it is).
	Exempt string
	// HandEdits are hand-edit managers' fields (live objects only).
	HandEdits []HandEdit
	// Notes are enrichment problems worth telling (never fatal).
	Notes []string
	// Errors are problems that leave the request impossible to judge
	// (e.g. the old object's managedFields cannot be parsed): the answer
	// follows failurePolicy.
	Errors []InputError
	// Parent is the object a subresource request writes to (scale.go).
	Parent *Parent
	Doc    map[string]any
}

// InputError is why a request cannot be judged; Reason is a bounded
// metric label value.
type InputError struct {
	Reason  string
	Message string
}

// Reasons of InputError.
const (
	ReasonManagedFields = "managed_fields"
	// ReasonParentUnreadable: the object a subresource request writes to
	// (the Deployment of deployments/scale) could not be read from the
	// cluster, so the ownership of the fields it changes is unknown.
	ReasonParentUnreadable = "parent_unreadable"
)

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Actor is who makes the request.
type Actor struct {
	Username     string
	Groups       []string
	SANamespace  string
	SAName       string
	FieldManager string
	// Owner is the declared owner whose identity the actor is ("" if none).
	Owner string
	// Person is true for users that are neither service accounts nor system identities.
	Person bool
	// BreakGlassReason is the break-glass annotation on the object;
	// BreakGlass is true when it counts for this request (see BreakGlass)
	// and the actor may use it.
	BreakGlassReason string
	BreakGlass       bool
	BreakGlassInfo   BreakGlass
	// Admin is true when the authenticated user is one of config admins.
	Admin bool
}

// Build decodes the objects of req and enriches them. Errors mean the
// review itself is unusable (e.g. an object is not JSON).
func (b *Builder) Build(ctx context.Context, req *admissionv1.AdmissionRequest) (*Input, error) {
	if IsScale(req) {
		return b.buildScale(ctx, req)
	}
	in := &Input{Request: req}
	var err error
	var newMF, oldMF []byte
	if in.Object, newMF, err = DecodeObject(req.Object.Raw); err != nil {
		return nil, fmt.Errorf("request.object: %w", err)
	}
	if in.OldObject, oldMF, err = DecodeObject(req.OldObject.Raw); err != nil {
		return nil, fmt.Errorf("request.oldObject: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err // out of time (requestTimeout): not the review's fault
	}
	in.Actor = b.actor(req, in.Object, in.OldObject)
	in.Exempt = b.exempt(req)

	// The object as it was (UPDATE, DELETE) carries the ownership that counts.
	ref := in.OldObject
	refMF := oldMF
	if ref == nil {
		ref, refMF = in.Object, newMF
	}
	var managed *managedInfo
	if ref != nil && in.Exempt == "" {
		managed = b.managedFields(refMF)
		if managed.declErr != nil {
			if in.OldObject != nil {
				// the stored object's owners are unknown: its changes cannot be judged
				in.Errors = append(in.Errors, InputError{Reason: ReasonManagedFields, Message: "oldObject.metadata.managedFields cannot be parsed (" +
					truncate(managed.declErr.Error(), 300) + "), so driftguard cannot tell who owns the fields this request changes"})
			} else {
				in.Notes = append(in.Notes, managed.declErr.Error())
			}
		}
	}
	ctrl := controllerRef(ref)
	in.ObjectOwner, in.ObjectVia = b.objectOwner(ref, ctrl, managed)

	if req.Operation == admissionv1.Update && in.Exempt == "" {
		if in.Changes, err = DiffLimited(ctx, in.OldObject, in.Object, b.cfg.MaxChanges); err != nil {
			return nil, err // *TooManyChangesError or ctx.Err(): answered per failurePolicy
		}
		if dropped := b.droppedOwnership(managed, newMF); len(dropped) > 0 {
			in.Changes = append(in.Changes, dropped...)
			sort.SliceStable(in.Changes, func(i, j int) bool { return in.Changes[i].Path < in.Changes[j].Path })
		}
		for i := range in.Changes {
			b.attribute(in, &in.Changes[i], managed)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	in.Doc = b.doc(ctx, in, ctrl)
	return in, nil
}

// managedFields returns the parsed managedFields (see managedInfo) of
// an object, from the cache when the same bytes were parsed before.
func (b *Builder) managedFields(raw []byte) *managedInfo {
	if m := b.managed.get(raw); m != nil {
		return m
	}
	keep := func(manager, sub string) bool {
		_, declared := lookupManager(b.managerOwner, manager)
		return declared && sub == ""
	}
	m := &managedInfo{raw: raw, keep: keep}
	if b.managed.cacheable(raw) {
		m.content = bytes.Clone(raw)
		m.raw = m.content
	}
	m.declared, m.declErr = parseManagedFields(m.raw, keep)
	b.managed.put(m)
	return m
}

// DecodeObject decodes an object for policies, leaving out
// metadata.managedFields, whose raw JSON it returns separately: ownership
// reaches policies through changes, and managedFields is often half of an
// object's bytes and most of its decoding cost.
func DecodeObject(raw []byte) (obj map[string]any, managedFields []byte, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil, nil
	}
	var top map[string]gojson.RawMessage
	if err := gojson.Unmarshal(raw, &top); err != nil {
		return nil, nil, fmt.Errorf("not a JSON object: %w", err)
	}
	obj = make(map[string]any, len(top))
	for k, v := range top {
		if k == "metadata" {
			var md map[string]gojson.RawMessage
			if err := gojson.Unmarshal(v, &md); err != nil {
				return nil, nil, fmt.Errorf("metadata is not a JSON object: %w", err)
			}
			mm := make(map[string]any, len(md))
			for mk, mv := range md {
				if mk == "managedFields" {
					managedFields = mv
					continue
				}
				var x any
				// goccy/go-json decodes to interfaces about 3x faster than encoding/json.
				if err := gojson.Unmarshal(mv, &x); err != nil {
					return nil, nil, fmt.Errorf("metadata.%s: %w", mk, err)
				}
				mm[mk] = x
			}
			obj[k] = mm
			continue
		}
		var x any
		if err := gojson.Unmarshal(v, &x); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", k, err)
		}
		obj[k] = x
	}
	return obj, managedFields, nil
}

func (b *Builder) actor(req *admissionv1.AdmissionRequest, obj, old map[string]any) Actor {
	u := req.UserInfo
	a := Actor{Username: u.Username, Groups: u.Groups}
	if rest, ok := strings.CutPrefix(u.Username, "system:serviceaccount:"); ok {
		a.SANamespace, a.SAName, _ = strings.Cut(rest, ":")
	}
	a.Person = a.SAName == "" && !strings.HasPrefix(u.Username, "system:") && u.Username != ""
	a.FieldManager = fieldManager(req.Options.Raw)
	// authenticated identity decides; the field manager is only a hint
	if o, ok := b.userOwner[u.Username]; ok {
		a.Owner = o
	} else if o, ok := b.saOwner[a.SANamespace+"/"+a.SAName]; ok && a.SAName != "" {
		a.Owner = o
	} else {
		for _, g := range u.Groups {
			if o, ok := b.groupOwner[g]; ok {
				a.Owner = o
				break
			}
		}
	}
	a.Admin = b.admins.is(&a)
	a.BreakGlassInfo = b.readBreakGlass(u.Groups, obj, old)
	a.BreakGlassReason, a.BreakGlass = a.BreakGlassInfo.Reason, a.BreakGlassInfo.Allowed
	return a
}

func fieldManager(opts []byte) string {
	if len(opts) == 0 {
		return ""
	}
	var o struct {
		FieldManager string `json:"fieldManager"`
	}
	_ = json.Unmarshal(opts, &o)
	return o.FieldManager
}

func (b *Builder) exempt(req *admissionv1.AdmissionRequest) string {
	if b.exemptNS[req.Namespace] {
		return "namespace " + req.Namespace + " is exempt"
	}
	if b.exemptUsers[req.UserInfo.Username] {
		return "user " + req.UserInfo.Username + " is exempt"
	}
	for _, g := range req.UserInfo.Groups {
		if b.exemptGroups[g] {
			return "group " + g + " is exempt"
		}
	}
	return ""
}

// ownerRef is the controlling ownerReference.
type ownerRef struct {
	APIVersion, Kind, Name, UID string
	GK                          config.GroupKind
}

func controllerRef(obj map[string]any) *ownerRef {
	md, _ := obj["metadata"].(map[string]any)
	refs, _ := md["ownerReferences"].([]any)
	for _, r := range refs {
		m, _ := r.(map[string]any)
		if c, _ := m["controller"].(bool); !c {
			continue
		}
		o := &ownerRef{}
		o.APIVersion, _ = m["apiVersion"].(string)
		o.Kind, _ = m["kind"].(string)
		o.Name, _ = m["name"].(string)
		o.UID, _ = m["uid"].(string)
		group := ""
		if g, _, ok := strings.Cut(o.APIVersion, "/"); ok {
			group = g
		}
		o.GK = config.GroupKind{Group: group, Kind: o.Kind}
		return o
	}
	return nil
}

func (b *Builder) objectOwner(obj map[string]any, ctrl *ownerRef, managed *managedInfo) (string, string) {
	if obj == nil {
		return "", ""
	}
	if o := annotation(obj, b.cfg.OwnerAnnotation); o != "" && b.cfg.OwnerByName(o) != nil {
		return o, "annotation"
	}
	if ctrl != nil {
		if o, ok := b.kindOwner[ctrl.GK]; ok {
			return o, "ownerReference"
		}
	}
	if managed != nil {
		for _, m := range managed.declared {
			if OwnsOutsideMetadata(m.Set) {
				return b.ownerOfManager(m.Manager), "managedFields"
			}
		}
	}
	return "", ""
}

// attribute finds who owns a changed field: a declared owner's manager in
// managedFields first, then the object's declared owner (annotation or
// ownerReference) for everything outside metadata. Managers lists the
// declared managers that own the path or, when none does, every manager
// that does.
func (b *Builder) attribute(in *Input, c *Change, managed *managedInfo) {
	if managed != nil {
		for _, m := range managed.declared {
			if Owns(m.Set, c.fp) {
				c.Managers = append(c.Managers, m.Manager)
				if c.Owner == "" {
					c.Owner, c.Via = b.ownerOfManager(m.Manager), "managedFields"
				}
			}
		}
		if c.Owner == "" {
			others, err := managed.rest()
			if err != nil && !slices.Contains(in.Notes, err.Error()) {
				in.Notes = append(in.Notes, err.Error())
			}
			for _, m := range others {
				if Owns(m.Set, c.fp) {
					c.Managers = append(c.Managers, m.Manager)
				}
			}
		}
	}
	if c.Owner == "" && in.ObjectOwner != "" && in.ObjectVia != "managedFields" && !strings.HasPrefix(c.Path, "metadata.") && !strings.HasPrefix(c.Path, "status") {
		c.Owner, c.Via = in.ObjectOwner, in.ObjectVia
	}
}

func annotation(obj map[string]any, key string) string {
	md, _ := obj["metadata"].(map[string]any)
	ann, _ := md["annotations"].(map[string]any)
	s, _ := ann[key].(string)
	return s
}

func set(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

func (b *Builder) render(tmpl string, in *Input, ctrl *ownerRef) string {
	obj := in.Object
	if obj == nil {
		obj = in.OldObject
	}
	kind := in.Request.Kind.Kind
	ownerName, ownerKind := "", ""
	if ctrl != nil {
		ownerName, ownerKind = ctrl.Name, ctrl.Kind
	}
	name := in.Request.Name
	if md, ok := obj["metadata"].(map[string]any); ok && name == "" {
		name, _ = md["name"].(string)
	}
	if in.Parent != nil { // a subresource: the object it writes to
		kind, name = in.Parent.Kind, in.Parent.Name
	}
	r := strings.NewReplacer("{namespace}", in.Request.Namespace, "{name}", name, "{kind}", kind,
		"{ownerName}", ownerName, "{ownerKind}", ownerKind)
	return r.Replace(tmpl)
}

func (b *Builder) doc(ctx context.Context, in *Input, ctrl *ownerRef) map[string]any {
	req := in.Request
	a := in.Actor
	actor := map[string]any{
		"username":     a.Username,
		"groups":       stringsToAny(a.Groups),
		"fieldManager": a.FieldManager,
		"owner":        a.Owner,
		"person":       a.Person,
		"admin":        a.Admin,
		"breakGlass":   breakGlassDoc(a.BreakGlassInfo),
	}
	if a.SAName != "" {
		actor["serviceAccount"] = map[string]any{"namespace": a.SANamespace, "name": a.SAName}
	}
	changes := make([]any, len(in.Changes))
	for i, c := range in.Changes {
		changes[i] = map[string]any{
			"path": c.Path, "op": c.Op, "managers": stringsToAny(c.Managers),
			"owner": c.Owner, "via": c.Via,
		}
	}
	owners := make(map[string]any, len(b.cfg.Owners))
	for _, o := range b.cfg.Owners {
		owners[o.Name] = map[string]any{"display": o.Display, "source": b.render(o.Source, in, ctrl)}
	}
	request := map[string]any{
		"uid":         string(req.UID),
		"operation":   string(req.Operation),
		"kind":        map[string]any{"group": req.Kind.Group, "version": req.Kind.Version, "kind": req.Kind.Kind},
		"resource":    map[string]any{"group": req.Resource.Group, "version": req.Resource.Version, "resource": req.Resource.Resource},
		"subResource": req.SubResource,
		"name":        req.Name,
		"namespace":   req.Namespace,
		"dryRun":      req.DryRun != nil && *req.DryRun,
	}
	// the kind the client asked for, before the API server converted it
	// (matchPolicy Equivalent): deprecated API versions show here
	if rk := req.RequestKind; rk != nil {
		request["requestKind"] = map[string]any{"group": rk.Group, "version": rk.Version, "kind": rk.Kind}
	}
	doc := map[string]any{
		"request": request,
		"actor":   actor,
		"changes": changes,
		"owners":  owners,
	}
	if in.Object != nil {
		doc["object"] = in.Object
	}
	if in.OldObject != nil {
		doc["oldObject"] = in.OldObject
	}
	if req.Kind.Group == "" && adminKinds[req.Kind.Kind] {
		doc["admins"] = b.admins.doc
	}
	if in.Parent != nil {
		doc["parent"] = in.Parent.doc()
	}
	if in.ObjectOwner != "" {
		doc["objectOwner"] = map[string]any{"name": in.ObjectOwner, "via": in.ObjectVia}
	}
	if m := b.matrixFor(in); len(m) > 0 {
		doc["matrix"] = m
	}
	if in.Request.Kind.Kind == "ConfigMap" && in.Request.Kind.Group == "" {
		var rows []any
		for _, r := range b.matrixInputs[in.Request.Namespace+"/"+in.Request.Name] {
			rows = append(rows, map[string]any{"component": r.component, "key": r.key, "expected": r.value})
		}
		if len(rows) > 0 {
			doc["matrixInputs"] = rows
		}
	}
	if len(in.HandEdits) > 0 {
		he := make([]any, len(in.HandEdits))
		for i, h := range in.HandEdits {
			he[i] = map[string]any{"manager": h.Manager, "fields": stringsToAny(h.Fields)}
		}
		doc["handEdits"] = he
	}
	if rec := b.driftRecord(in); rec != nil {
		doc["driftRecord"] = rec
	}
	if deps := b.baselineFor(in); len(deps) > 0 {
		doc["baseline"] = deps
	}
	if ctrl != nil {
		owner := map[string]any{
			"reference": map[string]any{"apiVersion": ctrl.APIVersion, "kind": ctrl.Kind, "name": ctrl.Name, "uid": ctrl.UID},
			"group":     ctrl.GK.Group,
		}
		if o, ok := b.kindOwner[ctrl.GK]; ok {
			owner["declared"] = o
		}
		if k, ok := b.ownerKinds[ctrl.GK]; ok {
			owner["reconciler"] = b.reconciler(ctx, k, in, ctrl)
		}
		doc["owner"] = owner
	}
	return doc
}

// reconciler describes what the controlling owner will do with a hand edit.
// With a ParentLookup, the parent's own settings can rule a revert out.
func (b *Builder) reconciler(ctx context.Context, k *config.OwnerKind, in *Input, ctrl *ownerRef) map[string]any {
	r := map[string]any{
		"name":       k.Reconciler,
		"source":     b.render(k.Source, in, ctrl),
		"reconciles": k.Reconciles,
		"known":      false,
	}
	if b.parents == nil {
		return r
	}
	ns := in.Request.Namespace
	if ctrl.GK.Kind == "Namespace" && ctrl.GK.Group == "" {
		ns = ""
	}
	parent, err := b.parents.Parent(ctx, ctrl.APIVersion, ctrl.Kind, ns, ctrl.Name)
	if err != nil || parent == nil {
		if err != nil {
			in.Notes = append(in.Notes, "owner lookup: "+err.Error())
		}
		return r
	}
	r["known"] = true
	reconciles := k.Reconciles
	for _, p := range k.PausedWhen {
		if v, ok := lookup(parent, p).(bool); ok && v {
			reconciles = false
			r["pausedBy"] = p
		}
	}
	if len(k.MatchLabels) > 0 {
		md, _ := parent["metadata"].(map[string]any)
		labels, _ := md["labels"].(map[string]any)
		for lk, lv := range k.MatchLabels {
			if labels[lk] != lv {
				reconciles = false
				r["notEnrolled"] = lk
			}
		}
	}
	r["reconciles"] = reconciles
	return r
}

func lookup(obj map[string]any, dotted string) any {
	var cur any = obj
	for _, p := range strings.Split(dotted, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

func stringsToAny(xs []string) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

type matrixInput struct{ component, key, value string }

type matrixEntry struct {
	component, image string
	w                config.Workload
}

// matrixFor lists the version-matrix rows that apply to the object.
func (b *Builder) matrixFor(in *Input) []any {
	rows := b.matrix[in.Request.Kind.Kind]
	if len(rows) == 0 {
		return nil
	}
	name := in.Request.Name
	var out []any
	for _, r := range rows {
		if (r.w.Namespace == "" || r.w.Namespace == in.Request.Namespace) && (r.w.Name == "" || r.w.Name == name) {
			out = append(out, map[string]any{"component": r.component, "image": r.image, "container": r.w.Container})
		}
	}
	return out
}

// driftRecord decodes the drift-record annotation of the object as it is
// (new object, else old).
func (b *Builder) driftRecord(in *Input) any {
	obj := in.Object
	if obj == nil {
		obj = in.OldObject
	}
	s := annotation(obj, b.cfg.DriftAnnotation)
	if s == "" {
		return nil
	}
	var rec any
	if err := gojson.Unmarshal([]byte(s), &rec); err != nil {
		in.Notes = append(in.Notes, "drift record annotation is not JSON: "+err.Error())
		return map[string]any{"invalid": true}
	}
	return rec
}

var rbacKinds = map[string]bool{"Role": true, "ClusterRole": true, "RoleBinding": true, "ClusterRoleBinding": true}

// baselineFor lists the baseline needs that depend on an RBAC object alone.
func (b *Builder) baselineFor(in *Input) []any {
	req := in.Request
	if b.baseline == nil || req.Kind.Group != "rbac.authorization.k8s.io" || !rbacKinds[req.Kind.Kind] {
		return nil
	}
	var out []any
	for _, n := range b.baseline.Dependents(req.Kind.Kind, req.Namespace, req.Name) {
		out = append(out, map[string]any{
			"serviceAccount": n.ServiceAccount, "verb": n.Verb, "group": n.Group,
			"resource": n.Resource, "namespace": n.Namespace, "text": n.String(),
		})
	}
	return out
}

// droppedOwnership reports declared owners whose managedFields entry is
// in oldObject but not in object: someone reset or rewrote managedFields
// (e.g. a patch of metadata.managedFields), which strips the owner's
// claim on its fields. It is a change of path
// metadata.managedFields[<manager>] owned by that owner.
func (b *Builder) droppedOwnership(old *managedInfo, newMF []byte) []Change {
	if old == nil || len(old.declared) == 0 {
		return nil
	}
	var entries []struct {
		Manager     string `json:"manager"`
		Subresource string `json:"subresource"`
	}
	if len(newMF) > 0 {
		if err := gojson.Unmarshal(newMF, &entries); err != nil {
			entries = nil
		}
	}
	present := func(manager string) bool {
		for _, e := range entries {
			if e.Subresource == "" && foldEqual(e.Manager, manager) {
				return true
			}
		}
		return false
	}
	var out []Change
	for _, m := range old.declared {
		if !present(m.Manager) {
			out = append(out, Change{
				Path: "metadata.managedFields[" + m.Manager + "]", Op: "remove",
				Managers: []string{m.Manager}, Owner: b.ownerOfManager(m.Manager), Via: "managedFields",
			})
		}
	}
	return out
}

// ownerOfManager is the declared owner a managedFields manager name means
// ("" for none), matched case-insensitively.
func (b *Builder) ownerOfManager(manager string) string {
	o, _ := lookupManager(b.managerOwner, manager)
	return o
}

// lookupManager looks a managedFields manager name up in a map keyed by
// config.FoldManager: the Terraform provider writes "HashiCorp" and
// "Terraform", and a config may say "hashicorp". Names of up to 64 bytes
// are folded on the stack (no allocation per managedFields entry).
func lookupManager[V any](m map[string]V, manager string) (V, bool) {
	var buf [64]byte
	if len(manager) > len(buf) {
		v, ok := m[config.FoldManager(manager)]
		return v, ok
	}
	for i := 0; i < len(manager); i++ {
		c := manager[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	v, ok := m[string(buf[:len(manager)])]
	return v, ok
}

// foldEqual compares manager names as config.FoldManager does.
func foldEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
