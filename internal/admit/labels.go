package admit

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	admissionv1 "k8s.io/api/admission/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

// OtherKind is the kind label of every kind that neither a policy, the
// config nor Kubernetes itself names: the kind of an admission request is
// chosen by whoever sends it, so it must not grow the metrics' series.
const OtherKind = "_other"

// operations are the admission operations Kubernetes sends.
var operations = map[admissionv1.Operation]bool{
	admissionv1.Create: true, admissionv1.Update: true, admissionv1.Delete: true, admissionv1.Connect: true,
}

// checkOperation refuses operations Kubernetes does not have: they would
// otherwise match no policy and be allowed, and become label values.
func checkOperation(req *admissionv1.AdmissionRequest) *httpError {
	if operations[req.Operation] {
		return nil
	}
	op := string(req.Operation)
	if len(op) > 32 {
		op = op[:32] + "..."
	}
	return &httpError{http.StatusBadRequest, "operation", fmt.Sprintf("operation %q is not an admission operation (CREATE, UPDATE, DELETE, CONNECT)", op)}
}

var (
	builtinOnce  sync.Once
	builtinKinds map[string]bool
)

// builtin returns the kinds of the Kubernetes API groups client-go knows
// (Deployment, ConfigMap, Secret, ...), list and option types left out.
func builtin() map[string]bool {
	builtinOnce.Do(func() {
		builtinKinds = map[string]bool{}
		for gvk := range clientgoscheme.Scheme.AllKnownTypes() {
			if gvk.Version == "__internal" || strings.HasSuffix(gvk.Kind, "List") || strings.HasSuffix(gvk.Kind, "Options") {
				continue
			}
			builtinKinds[gvk.Kind] = true
		}
	})
	return builtinKinds
}

// kindLabels is the bounded set of kind label values of one State.
type kindLabels struct {
	st    *State
	kinds map[string]bool
}

// labelCache holds the label set of the state counted last; a reload
// builds the set of the new state once.
var labelCache atomic.Pointer[kindLabels]

func newKindLabels(st *State) *kindLabels {
	l := &kindLabels{st: st, kinds: map[string]bool{}}
	add := func(k string) {
		if k != "" && k != "*" {
			l.kinds[k] = true
		}
	}
	if st.Policies != nil {
		for _, p := range st.Policies.Policies {
			for _, k := range p.Kinds {
				add(k)
			}
		}
	}
	if c := st.Config; c != nil {
		for _, o := range c.Owners {
			for _, k := range o.Kinds {
				add(k.Kind)
			}
		}
		for _, k := range c.OwnerKinds {
			add(k.Kind)
		}
		for _, k := range c.Audit.Kinds {
			add(k.Kind)
		}
		for _, comp := range c.VersionMatrix {
			for _, w := range comp.Workloads {
				add(w.Kind)
			}
		}
	}
	return l
}

// KindLabel is the metric label value of kind under st: the kind itself
// when a policy, the config or the Kubernetes API names it, else OtherKind.
func KindLabel(st *State, kind string) string {
	l := labelCache.Load()
	if l == nil || l.st != st {
		l = newKindLabels(st)
		labelCache.Store(l)
	}
	if l.kinds[kind] || builtin()[kind] {
		return kind
	}
	return OtherKind
}

// opLabel is the operation label value: handler.go refuses any other
// operation before evaluation, this keeps direct callers bounded too.
func opLabel(op admissionv1.Operation) string {
	if operations[op] {
		return string(op)
	}
	return "_other"
}
