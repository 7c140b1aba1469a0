package explain

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/value"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/input"
)

// Results of a simulated request.
const (
	Denied  = "denied"
	Warned  = "warned"
	Allowed = "allowed"
	Exempt  = "exempt"
	Failed  = "error"
)

// HandEdits is what driftguard answers to hand edits of the object.
type HandEdits struct {
	User   string       `json:"user"`
	Groups []string     `json:"groups"`
	Edits  []EditResult `json:"edits"`
	// NotSimulated counts owned fields left out by the cap.
	NotSimulated int `json:"notSimulated,omitempty"`
}

// EditResult is driftguard's answer to one simulated request.
type EditResult struct {
	Operation string `json:"operation"`
	// Field is the changed path, "(object)" for a delete.
	Field string `json:"field"`
	// Edit says what was changed (never the values: Secrets).
	Edit string `json:"edit"`
	// Result is denied, warned, allowed, exempt or error.
	Result string `json:"result"`
	// Owner and Via are the field's declared owner as the policies saw it
	// (input.changes[].owner/via, or objectOwner for a delete).
	Owner    string         `json:"owner,omitempty"`
	Via      string         `json:"via,omitempty"`
	Managers []string       `json:"managers,omitempty"`
	Messages []string       `json:"messages,omitempty"`
	Policies []PolicyResult `json:"policies,omitempty"`
	Error    string         `json:"error,omitempty"`
}

// PolicyResult is one policy's non-allow verdict.
type PolicyResult struct {
	Policy   string `json:"policy"`
	Mode     string `json:"mode"`
	Decision string `json:"decision"`
}

type edit struct {
	path fieldpath.Path
	text string
	desc string
	to   func(any) (any, bool)
}

// simulate runs synthetic UPDATEs (each container image retagged, then
// each owned scalar leaf bumped, up to o.MaxFields) and a DELETE through
// the admission engine, as the user of o.
func simulate(ctx context.Context, st *admit.State, t Target, obj map[string]any, fields []FieldManagers, objOwner *DeclaredOwner, o Options) HandEdits {
	h := HandEdits{User: o.User, Groups: o.Groups, Edits: []EditResult{}}
	// The managedFields cache is keyed by uid/resourceVersion, which every
	// simulated edit shares with the live object.
	s := *st
	s.Builder = st.Builder.WithoutCache()
	engine := admit.NewEngine(&s, nil)
	oldRaw, err := json.Marshal(obj)
	if err != nil {
		h.Edits = append(h.Edits, EditResult{Operation: "UPDATE", Result: Failed, Error: err.Error()})
		return h
	}
	uid := str(obj2md(obj)["uid"])

	var edits []edit
	for _, img := range images(obj) {
		edits = append(edits, edit{path: img, text: input.PathText(img), desc: `image tag + "-explain"`, to: func(v any) (any, bool) {
			s, ok := v.(string)
			return retag(s), ok
		}})
	}
	n := 0
	for _, f := range fields {
		if !ownedCandidate(f, objOwner) {
			continue
		}
		get, _, ok := locate(obj, f.fp)
		if !ok {
			continue
		}
		_, desc, ok := bump(get())
		if !ok {
			continue
		}
		if n >= o.MaxFields {
			h.NotSimulated++
			continue
		}
		n++
		edits = append(edits, edit{path: f.fp, text: f.Path, desc: desc, to: func(v any) (any, bool) {
			x, _, ok := bump(v)
			return x, ok
		}})
	}

	for i, e := range edits {
		r := EditResult{Operation: "UPDATE", Field: e.text, Edit: e.desc}
		newObj := runtime.DeepCopyJSON(obj)
		get, set, ok := locate(newObj, e.path)
		var nv any
		if ok {
			nv, ok = e.to(get())
		}
		if !ok {
			r.Result, r.Error = Failed, "cannot change this field in the object"
			h.Edits = append(h.Edits, r)
			continue
		}
		set(nv)
		newRaw, err := json.Marshal(newObj)
		if err != nil {
			r.Result, r.Error = Failed, err.Error()
			h.Edits = append(h.Edits, r)
			continue
		}
		req := request(t, fmt.Sprintf("%s-%d", uid, i), o.User, o.Groups, admissionv1.Update, oldRaw, newRaw)
		decide(ctx, engine, req, &r)
		h.Edits = append(h.Edits, r)
	}

	r := EditResult{Operation: "DELETE", Field: "(object)", Edit: "delete the object"}
	decide(ctx, engine, request(t, uid+"-delete", o.User, o.Groups, admissionv1.Delete, oldRaw, nil), &r)
	h.Edits = append(h.Edits, r)
	return h
}

func decide(ctx context.Context, e *admit.Engine, req *admissionv1.AdmissionRequest, r *EditResult) {
	d, err := e.Decide(ctx, req)
	if err != nil {
		r.Result, r.Error = Failed, err.Error()
		return
	}
	in := d.Input
	if req.Operation == admissionv1.Delete {
		r.Owner, r.Via = in.ObjectOwner, in.ObjectVia
	} else {
		found := false
		for _, c := range in.Changes {
			if c.Path == r.Field {
				r.Owner, r.Via, r.Managers, found = c.Owner, c.Via, c.Managers, true
			}
		}
		if !found && in.Exempt == "" {
			var paths []string
			for _, c := range in.Changes {
				paths = append(paths, c.Path)
			}
			r.Error = fmt.Sprintf("driftguard saw the change as %v, not %s", paths, r.Field)
		}
	}
	r.Messages = append(append(r.Messages, d.Denials...), d.Warnings...)
	for _, v := range d.Verdicts {
		if v.Decision != "allow" {
			r.Policies = append(r.Policies, PolicyResult{Policy: v.Policy, Mode: string(v.Mode), Decision: v.Decision})
		}
	}
	switch {
	case in.Exempt != "":
		r.Result = Exempt
		r.Messages = append(r.Messages, "not evaluated: "+in.Exempt)
	case !d.Allowed:
		r.Result = Denied
	case len(d.Warnings) > 0:
		r.Result = Warned
	default:
		r.Result = Allowed
	}
}

// ownedCandidate: a non-image leaf a declared owner manages (or, for an
// object wholly owned through its annotation or controlling owner, any
// leaf outside metadata), in the object's substance: spec-like fields,
// labels and annotations, not status or bookkeeping.
func ownedCandidate(f FieldManagers, objOwner *DeclaredOwner) bool {
	if IsImagePath(f.Path) || len(f.fp) == 0 || f.fp[0].FieldName == nil {
		return false
	}
	if isMergeKey(f.fp) {
		return false // changing it names another list item, not a value
	}
	top := *f.fp[0].FieldName
	switch top {
	case "status", "apiVersion", "kind":
		return false
	case "metadata":
		if !strings.HasPrefix(f.Path, "metadata.labels") && !strings.HasPrefix(f.Path, "metadata.annotations") {
			return false
		}
	}
	for _, m := range f.Managers {
		if m.Owner != "" && m.Subresource == "" {
			return true
		}
	}
	return objOwner != nil && objOwner.Via != "managedFields" && top != "metadata"
}

// isMergeKey reports whether the path ends at a merge key of its list
// item (containers[api].name, ports[containerPort=80,protocol=TCP].protocol).
func isMergeKey(p fieldpath.Path) bool {
	n := len(p)
	if n < 2 || p[n-2].Key == nil || p[n-1].FieldName == nil {
		return false
	}
	for _, k := range *p[n-2].Key {
		if k.Name == *p[n-1].FieldName {
			return true
		}
	}
	return false
}

var containerLists = map[string]bool{"containers": true, "initContainers": true, "ephemeralContainers": true}

// images finds every container image of the object (pod specs anywhere
// outside metadata and status: Pods, workload templates, CronJobs), as
// paths like spec.template.spec.containers[api].image.
func images(obj map[string]any) []fieldpath.Path {
	var out []fieldpath.Path
	var walk func(m map[string]any, prefix fieldpath.Path)
	walk = func(m map[string]any, prefix fieldpath.Path) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if len(prefix) == 0 && (k == "metadata" || k == "status") {
				continue
			}
			p := append(prefix.Copy(), fieldpath.PathElement{FieldName: &k})
			switch v := m[k].(type) {
			case map[string]any:
				walk(v, p)
			case []any:
				if !containerLists[k] {
					continue
				}
				for _, it := range v {
					c, _ := it.(map[string]any)
					name, _ := c["name"].(string)
					if _, hasImage := c["image"].(string); !hasImage || name == "" {
						continue
					}
					key := value.FieldList{{Name: "name", Value: value.NewValueInterface(name)}}
					image := "image"
					out = append(out, append(p.Copy(), fieldpath.PathElement{Key: &key}, fieldpath.PathElement{FieldName: &image}))
				}
			}
		}
	}
	walk(obj, nil)
	return out
}
