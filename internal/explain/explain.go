package explain

import (
	"context"
	"errors"
	"fmt"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/driftguard/driftguard/internal/admit"
)

// DefaultUser and DefaultGroups are who the simulated hand edits come
// from unless --as/--as-group say otherwise.
const DefaultUser = "someone"

// DefaultGroups are the groups of the default simulated user.
var DefaultGroups = []string{"system:authenticated"}

// DefaultMaxFields caps the owned non-image fields whose hand edit is simulated.
const DefaultMaxFields = 20

// Target is the object to explain, resolved against the API server's discovery.
type Target struct {
	GVK        schema.GroupVersionKind
	GVR        schema.GroupVersionResource
	Namespaced bool
	Namespace  string
	Name       string
}

func (t Target) String() string { return ref(t.GVK.Kind, t.Namespace, t.Name) }

// Options tune an explanation.
type Options struct {
	// User and Groups make the simulated hand edits (default DefaultUser,
	// DefaultGroups). system:authenticated is added to Groups like the API
	// server adds it to every authenticated request.
	User   string
	Groups []string
	// Impersonate is true when User/Groups came from --as: access checks
	// then ask a SubjectAccessReview for them instead of a
	// SelfSubjectAccessReview for the caller.
	Impersonate bool
	// MaxFields caps the simulated edits of owned non-image fields.
	MaxFields int
}

// Env is what an explanation reads from.
type Env struct {
	// Objects reads the object and its owners.
	Objects Objects
	// State is the loaded config and policies. Build it with
	// loader.Load and Parents: NewParentLookup(Objects); its Builder
	// should be WithoutCache (the managedFields cache is keyed by uid and
	// resourceVersion, which every simulated edit shares).
	State *admit.State
	// Access answers access reviews (nil: the section is left out).
	Access AccessChecker
	// Since tells when a finding was first seen (nil: unknown).
	Since SinceLookup
}

// Report is the whole explanation; -o json prints it as is.
type Report struct {
	Object      ObjectInfo      `json:"object"`
	OwnerChain  Chain           `json:"ownerChain"`
	Conventions Conventions     `json:"conventions"`
	Fields      []FieldManagers `json:"fields"`
	HandEdits   HandEdits       `json:"handEdits"`
	Access      *Access         `json:"access,omitempty"`
	Drift       Drift           `json:"drift"`
	// Notes are problems met along the way (never fatal).
	Notes []string `json:"notes,omitempty"`
}

// ObjectInfo names the explained object.
type ObjectInfo struct {
	APIVersion      string `json:"apiVersion"`
	Kind            string `json:"kind"`
	Resource        string `json:"resource"`
	Namespace       string `json:"namespace,omitempty"`
	Name            string `json:"name"`
	UID             string `json:"uid"`
	ResourceVersion string `json:"resourceVersion"`
}

// Explain builds the report for the target.
func Explain(ctx context.Context, env Env, t Target, o Options) (*Report, error) {
	if o.User == "" {
		o.User = DefaultUser
		if len(o.Groups) == 0 {
			o.Groups = DefaultGroups
		}
	}
	o.Groups = withAuthenticated(o.User, o.Groups)
	if o.MaxFields <= 0 {
		o.MaxFields = DefaultMaxFields
	}
	apiVersion := t.GVK.GroupVersion().String()
	obj, err := env.Objects.Get(ctx, apiVersion, t.GVK.Kind, t.Namespace, t.Name)
	if err != nil {
		if IsNotFound(err) {
			return nil, &NotFoundError{What: t.String(), Err: err}
		}
		return nil, fmt.Errorf("reading %s: %w", t, err)
	}
	md, _ := obj["metadata"].(map[string]any)
	r := &Report{Object: ObjectInfo{
		APIVersion: apiVersion, Kind: t.GVK.Kind, Resource: t.GVR.Resource,
		Namespace: t.Namespace, Name: t.Name,
		UID: str(md["uid"]), ResourceVersion: str(md["resourceVersion"]),
	}}

	r.OwnerChain = OwnerChain(ctx, env.Objects, obj)
	r.Conventions, err = conventions(ctx, env.State, r.OwnerChain, obj, t)
	if err != nil {
		r.Notes = append(r.Notes, err.Error())
	}
	var mfErr error
	r.Fields, mfErr = Managers(obj, env.State.Config)
	if mfErr != nil {
		r.Notes = append(r.Notes, mfErr.Error())
	}
	r.HandEdits = simulate(ctx, env.State, t, obj, r.Fields, r.Conventions.ObjectOwner, o)
	if env.Access != nil {
		r.Access = checkAccess(ctx, env.Access, t, o)
	}
	var notes []string
	r.Drift, notes = drift(ctx, env, t, obj)
	r.Notes = append(r.Notes, notes...)
	return r, nil
}

// ParseTarget reads the command line's object argument(s): kind/name or
// kind name.
func ParseTarget(args []string) (kind, name string, err error) {
	switch len(args) {
	case 1:
		k, n, ok := strings.Cut(args[0], "/")
		if !ok || k == "" || n == "" || strings.Contains(n, "/") {
			return "", "", fmt.Errorf("%q: want <kind>/<name>", args[0])
		}
		return k, n, nil
	case 2:
		if args[0] == "" || args[1] == "" || strings.Contains(args[0], "/") || strings.Contains(args[1], "/") {
			return "", "", fmt.Errorf("%q: want <kind>/<name> or <kind> <name>", strings.Join(args, " "))
		}
		return args[0], args[1], nil
	case 0:
		return "", "", errors.New("missing <kind>/<name>")
	}
	return "", "", fmt.Errorf("too many arguments: %q", strings.Join(args, " "))
}

// NotFoundError is returned when the explained object does not exist.
type NotFoundError struct {
	What string
	Err  error
}

func (e *NotFoundError) Error() string { return e.What + " not found" }
func (e *NotFoundError) Unwrap() error { return e.Err }

// request is an admission request for obj (UPDATE from old to new, or
// DELETE of old when new is nil) by the given user.
func request(t Target, uid string, user string, groups []string, op admissionv1.Operation, oldRaw, newRaw []byte) *admissionv1.AdmissionRequest {
	dry := false
	req := &admissionv1.AdmissionRequest{
		UID:       types.UID("explain-" + strings.ReplaceAll(uid, "/", "-")),
		Kind:      metav1.GroupVersionKind{Group: t.GVK.Group, Version: t.GVK.Version, Kind: t.GVK.Kind},
		Resource:  metav1.GroupVersionResource{Group: t.GVR.Group, Version: t.GVR.Version, Resource: t.GVR.Resource},
		Name:      t.Name,
		Namespace: t.Namespace,
		Operation: op,
		DryRun:    &dry,
	}
	req.RequestKind, req.RequestResource = &req.Kind, &req.Resource
	req.UserInfo.Username = user
	req.UserInfo.Groups = groups
	req.OldObject.Raw = oldRaw
	switch op {
	case admissionv1.Update:
		req.Object.Raw = newRaw
		req.Options.Raw = []byte(`{"kind":"UpdateOptions","apiVersion":"meta.k8s.io/v1","fieldManager":"kubectl-edit"}`)
	case admissionv1.Delete:
		req.Options.Raw = []byte(`{"kind":"DeleteOptions","apiVersion":"meta.k8s.io/v1"}`)
	}
	return req
}

func withAuthenticated(user string, groups []string) []string {
	out := append([]string{}, groups...)
	if user == "system:anonymous" {
		return out
	}
	for _, g := range out {
		if g == "system:authenticated" {
			return out
		}
	}
	return append(out, "system:authenticated")
}

func ref(kind, ns, name string) string {
	if ns == "" {
		return kind + " " + name
	}
	return kind + " " + ns + "/" + name
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
