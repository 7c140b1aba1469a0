package input

import (
	"context"
	"sort"
	"strings"

	gojson "github.com/goccy/go-json"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// OperationAudit is the request operation of live objects evaluated by the
// drift audit (policies' drift rules).
const OperationAudit = "AUDIT"

// HandEdit is a hand-edit manager's fields on an object a declared owner
// manages: drift that happened (maybe before driftguard ran).
type HandEdit struct {
	Manager string
	Fields  []string
}

// BuildLive builds the input of a live object for the drift audit. The
// object is not modified (it may be an informer cache's copy).
func (b *Builder) BuildLive(ctx context.Context, gvk metav1.GroupVersionKind, obj map[string]any) (*Input, error) {
	md, _ := obj["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	ns, _ := md["namespace"].(string)
	req := &admissionv1.AdmissionRequest{
		Operation: admissionv1.Operation(OperationAudit),
		Kind:      gvk,
		Name:      name,
		Namespace: ns,
	}
	// a shallow copy without managedFields, like admission objects
	var mfRaw []byte
	view := obj
	if mf, ok := md["managedFields"]; ok {
		raw, err := gojson.Marshal(mf)
		if err != nil {
			return nil, err
		}
		mfRaw = raw
		view = make(map[string]any, len(obj))
		for k, v := range obj {
			view[k] = v
		}
		md2 := make(map[string]any, len(md))
		for k, v := range md {
			if k != "managedFields" {
				md2[k] = v
			}
		}
		view["metadata"] = md2
	}
	in := &Input{Request: req, Object: view}
	in.Exempt = b.exemptNamespace(ns)
	var managed *managedInfo
	if in.Exempt == "" {
		managed = b.managedFields(mfRaw)
		if managed.declErr != nil {
			in.Notes = append(in.Notes, managed.declErr.Error())
		}
	}
	ctrl := controllerRef(view)
	in.ObjectOwner, in.ObjectVia = b.objectOwner(view, ctrl, managed)
	if in.ObjectOwner != "" && len(mfRaw) > 0 {
		edits, err := b.handEdits(mfRaw)
		if err != nil {
			in.Notes = append(in.Notes, err.Error())
		}
		in.HandEdits = edits
	}
	in.Doc = b.doc(ctx, in, ctrl)
	return in, nil
}

func (b *Builder) exemptNamespace(ns string) string {
	if b.exemptNamespaces[ns] {
		return "namespace " + ns + " is exempt"
	}
	return ""
}

// handEdits lists the fields that hand-edit managers own, through the
// main resource or the scale subresource (kubectl scale records manager
// kubectl, subresource scale, owning spec.replicas).
func (b *Builder) handEdits(mfRaw []byte) ([]HandEdit, error) {
	sets, err := parseManagedFields(mfRaw, func(manager, sub string) bool {
		isHandEdit, _ := lookupManager(b.handEditManagers, manager)
		return isHandEdit && (sub == "" || sub == "scale")
	})
	var out []HandEdit
	for _, s := range sets {
		var fields []string
		s.Set.Leaves().Iterate(func(p fieldpath.Path) {
			fields = append(fields, PathText(p))
		})
		if len(fields) == 0 {
			continue
		}
		sort.Strings(fields)
		out = append(out, HandEdit{Manager: s.Manager, Fields: fields})
	}
	return out, err
}

// PathText writes a structured-merge-diff path in driftguard's path
// syntax: spec.template.spec.containers[api].image,
// metadata.annotations[example.com/x], ports[containerPort=80,protocol=TCP].
func PathText(p fieldpath.Path) string {
	var b strings.Builder
	for i, pe := range p {
		switch {
		case pe.FieldName != nil:
			t := fieldText(*pe.FieldName)
			if i == 0 {
				t = strings.TrimPrefix(t, ".")
			}
			b.WriteString(t)
		case pe.Key != nil:
			b.WriteByte('[')
			if len(*pe.Key) == 1 {
				b.WriteString(scalarText((*pe.Key)[0].Value.Unstructured()))
			} else {
				for j, f := range *pe.Key {
					if j > 0 {
						b.WriteByte(',')
					}
					b.WriteString(f.Name + "=" + scalarText(f.Value.Unstructured()))
				}
			}
			b.WriteByte(']')
		case pe.Value != nil:
			b.WriteString("[" + scalarText((*pe.Value).Unstructured()) + "]")
		case pe.Index != nil:
			b.WriteString("[" + scalarText(int64(*pe.Index)) + "]")
		}
	}
	return b.String()
}
