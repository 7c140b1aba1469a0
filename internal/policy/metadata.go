package policy

import (
	"fmt"
)

var validOps = map[string]bool{"CREATE": true, "UPDATE": true, "DELETE": true, "CONNECT": true, "*": true}

func (p *Policy) readMeta(meta map[string]any) error {
	strs := func(key string) ([]string, error) {
		v, ok := meta[key]
		if !ok {
			return nil, nil
		}
		arr, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("%s must be an array of strings", key)
		}
		out := make([]string, 0, len(arr))
		for _, x := range arr {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("%s must be an array of strings", key)
			}
			out = append(out, s)
		}
		return out, nil
	}
	kinds, err := strs("kinds")
	if err != nil {
		return err
	}
	if len(kinds) > 0 {
		p.Kinds = kinds
	}
	ops, err := strs("operations")
	if err != nil {
		return err
	}
	for _, o := range ops {
		if !validOps[o] {
			return fmt.Errorf("operation %q is not one of CREATE, UPDATE, DELETE, CONNECT, *", o)
		}
	}
	if len(ops) > 0 {
		p.Operations = ops
	}
	p.Description, _ = meta["description"].(string)
	return nil
}
