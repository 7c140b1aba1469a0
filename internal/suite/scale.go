package suite

import (
	"context"
	"encoding/json"
	"errors"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// withScaleParent gives a case with scaleParent a state whose builder
// reads that object as the parent of scale requests (as serve --cluster
// reads the cluster's).
func (r *Runner) withScaleParent(c *Case, cs *CaseSpec, dir string) error {
	if len(cs.ScaleParent) == 0 || string(cs.ScaleParent) == "null" {
		if len(cs.ScaleParentPatch) > 0 {
			return errors.New("scaleParentPatch needs scaleParent")
		}
		return nil
	}
	obj, err := r.files.object("scaleParent", cs.ScaleParent, cs.ScaleParentPatch, dir)
	if err != nil {
		return err
	}
	if obj == nil {
		return errors.New("scaleParent is empty")
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	st := *c.state
	ns, name := meta(obj)
	st.Builder = st.Builder.WithScaleReader(fixedParent{raw: raw, namespace: ns, name: name})
	c.state = &st
	return nil
}

// fixedParent is a cluster holding one object.
type fixedParent struct {
	raw             []byte
	namespace, name string
}

func (f fixedParent) ReadParent(_ context.Context, _ metav1.GroupVersionResource, namespace, name string) ([]byte, error) {
	if namespace != f.namespace || name != f.name {
		return nil, errors.New("not found")
	}
	return f.raw, nil
}
