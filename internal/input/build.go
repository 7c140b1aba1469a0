package input

import (
	"context"
	"fmt"
	"sort"

	admissionv1 "k8s.io/api/admission/v1"
)

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
