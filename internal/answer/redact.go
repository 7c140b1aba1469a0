package answer

import "github.com/driftguard/driftguard/internal/redact"

// Redacted returns a copy of the answer for printing, with the values of
// patch operations that would be secret in the patched object hidden
// (internal/redact). Comparisons use the answer itself.
func (a *Answer) Redacted() *Answer {
	if a == nil {
		return nil
	}
	out := *a
	if len(a.Patch) > 0 {
		out.Patch = make([]PatchOp, len(a.Patch))
		for i, p := range a.Patch {
			p.Value = redact.PatchValue(a.kind, p.Path, p.Value)
			out.Patch[i] = p
		}
	}
	if len(a.Verdicts) > 0 {
		out.Verdicts = make([]Verdict, len(a.Verdicts))
		for i, v := range a.Verdicts {
			if len(v.Patch) > 0 {
				ps := make([]map[string]any, len(v.Patch))
				for j, p := range v.Patch {
					q := make(map[string]any, len(p))
					for k, x := range p {
						q[k] = x
					}
					if val, ok := p["value"]; ok {
						path, _ := p["path"].(string)
						q["value"] = redact.PatchValue(a.kind, path, val)
					}
					ps[j] = q
				}
				v.Patch = ps
			}
			out.Verdicts[i] = v
		}
	}
	return &out
}
