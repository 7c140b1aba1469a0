package suite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

func (r *Runner) prepare(ctx context.Context, spec *FileSpec, cs *CaseSpec, dir string, suiteDirs []string, suiteName string, i int) (*Case, error) {
	if cs.Expect == nil {
		return nil, errors.New("expect is required: what should the answer be?")
	}
	if cs.Expect.empty() {
		return nil, errors.New("expect is empty: give allowed, message, warnings, patch, decisions, drift or error")
	}
	for p, d := range cs.Expect.Decisions {
		if !validDecisions[d] {
			return nil, fmt.Errorf("expect.decisions.%s: %q is not one of allow, deny, warn, break_glass, dryrun, error, skipped", p, d)
		}
	}
	c := &Case{Name: cs.Name, Skip: cs.Skip, Expect: *cs.Expect}
	uid := cs.UID
	if uid == "" {
		h := sha256.Sum256([]byte(suiteName + "/" + cs.Name))
		x := hex.EncodeToString(h[:16])
		uid = x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
	}

	if len(cs.Review) > 0 && string(cs.Review) != "null" {
		var conflicting []string
		for name, set := range map[string]bool{
			"object": len(cs.Object) > 0, "oldObject": len(cs.OldObject) > 0, "objectPatch": len(cs.ObjectPatch) > 0,
			"oldObjectPatch": len(cs.OldPatch) > 0, "operation": cs.Operation != "", "kind": cs.Kind != nil,
			"resource": cs.Resource != nil, "subResource": cs.SubResource != "", "namespace": cs.Namespace != nil,
			"objectName": cs.ObjectName != nil, "uid": cs.UID != "",
		} {
			if set {
				conflicting = append(conflicting, name)
			}
		}
		if len(conflicting) > 0 {
			sort.Strings(conflicting)
			return nil, fmt.Errorf("review and %s are exclusive (with a review, only userInfo, fieldManager, options and dryRun may be overridden)", strings.Join(conflicting, ", "))
		}
		b, from, err := r.files.source(cs.Review, dir)
		if err != nil {
			return nil, fmt.Errorf("review: %w", err)
		}
		rv, err := ParseReview(b)
		if err != nil {
			if from != "" {
				return nil, fmt.Errorf("review %s: %w", from, err)
			}
			return nil, fmt.Errorf("review: %w", err)
		}
		req := rv.Request
		if err := applyOverrides(cs, req); err != nil {
			return nil, err
		}
		c.Request = req
		if cs.Expect.Drift != nil {
			ref := req.Object
			if len(ref.Raw) == 0 {
				ref = req.OldObject
			}
			if c.Live, err = objectOf(ref); err != nil || c.Live == nil {
				return nil, errors.New("expect.drift needs an object in the review")
			}
			c.LiveGVK = req.Kind
		}
	} else {
		old, err := r.files.object("oldObject", cs.OldObject, cs.OldPatch, dir)
		if err != nil {
			return nil, err
		}
		if len(cs.OldPatch) > 0 && old == nil {
			return nil, errors.New("oldObjectPatch needs oldObject")
		}
		var obj map[string]any
		switch {
		case len(cs.Object) > 0 && string(cs.Object) != "null":
			if obj, err = r.files.object("object", cs.Object, cs.ObjectPatch, dir); err != nil {
				return nil, err
			}
		case len(cs.ObjectPatch) > 0:
			if old == nil {
				return nil, errors.New("objectPatch needs object or oldObject to apply to")
			}
			b, _ := json.Marshal(old)
			if obj, err = decodeObject("object", "oldObject", b, cs.ObjectPatch); err != nil {
				return nil, err
			}
		}
		req, err := buildRequest(cs, obj, old, uid)
		if err != nil {
			return nil, err
		}
		if req.Operation == OperationAudit {
			if cs.Expect.admission() {
				return nil, errors.New("an AUDIT case evaluates drift rules only: expect drift, nothing else")
			}
			if cs.Expect.Drift == nil {
				return nil, errors.New("an AUDIT case needs expect.drift")
			}
		} else {
			c.Request = req
		}
		if cs.Expect.Drift != nil {
			c.Live = obj
			if c.Live == nil {
				c.Live = old
			}
			c.LiveGVK = req.Kind
		}
	}

	cc, err := r.configFor(spec, cs, dir)
	if err != nil {
		return nil, err
	}
	dirs := append(append([]string{}, r.opts.PolicyDirs...), suiteDirs...)
	if c.state, err = r.state(ctx, cc, dirs); err != nil {
		return nil, err
	}
	if err := r.withScaleParent(c, cs, dir); err != nil {
		return nil, err
	}
	return c, nil
}

var validDecisions = map[string]bool{"allow": true, "deny": true, "warn": true, "break_glass": true, "dryrun": true, "error": true, "skipped": true}
