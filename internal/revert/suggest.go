package revert

import (
	"fmt"
	"strings"

	"github.com/driftguard/driftguard/internal/config"
)

// Suggest names the config that would have predicted a revert nobody
// predicted: the ownerKinds entry for the object's controlling owner (or
// the change that entry needs), else an owners entry for the reverter's
// manager (which makes driftguard deny the edit instead: the field is
// then owned).
func Suggest(cfg *config.Config, r Revert) string {
	c := r.Controller
	if c.Kind != "" {
		group := c.APIVersion
		if i := strings.Index(group, "/"); i >= 0 {
			group = group[:i]
		} else {
			group = ""
		}
		for _, k := range cfg.OwnerKinds {
			if k.Kind != c.Kind || k.Group != group {
				continue
			}
			if !k.Reconciles {
				return fmt.Sprintf("ownerKinds entry %s says reconciles: false, but manager %s reverted %s of its child %s/%s: set reconciles: true", kindText(group, c.Kind), r.RevertedBy, r.Field, r.Object.Namespace, r.Object.Name)
			}
			if len(k.MatchLabels) > 0 {
				return fmt.Sprintf("ownerKinds entry %s has matchLabels %v that %s %s does not carry, but manager %s reverted %s of its child: widen matchLabels or label the owner", kindText(group, c.Kind), k.MatchLabels, c.Kind, c.Name, r.RevertedBy, r.Field)
			}
			if k.PausedWhen != nil {
				return fmt.Sprintf("ownerKinds entry %s: its pausedWhen %v said the owner would not revert, but manager %s reverted %s", kindText(group, c.Kind), k.PausedWhen, r.RevertedBy, r.Field)
			}
			return fmt.Sprintf("ownerKinds entry %s covers the owner, yet no revert warning was given for %s (a policy decision, see the revert_warning policy)", kindText(group, c.Kind), r.Field)
		}
		return fmt.Sprintf("add to ownerKinds: {group: %q, kind: %s, reconciles: true, reconciler: %q} (the controlling owner %s %s, reconciled by manager %s)", group, c.Kind, r.RevertedBy, c.Kind, c.Name, r.RevertedBy)
	}
	for _, o := range cfg.Owners {
		for _, m := range o.Managers {
			if config.ManagerMatches(m, r.RevertedBy) {
				return fmt.Sprintf("manager %s is owner %s's (owners[].managers); its fields are denied to hand edits unless the policy is in warn mode or the edit used break-glass", r.RevertedBy, o.Name)
			}
		}
	}
	return fmt.Sprintf("add to owners: {name: <owner>, managers: [%s], identities: {...}} (%s %s/%s has no controlling owner; with manager %s declared, hand edits of the fields it writes are denied instead of reverted)", r.RevertedBy, r.Object.Kind, r.Object.Namespace, r.Object.Name, r.RevertedBy)
}

func kindText(group, kind string) string {
	if group == "" {
		return "{kind: " + kind + "}"
	}
	return "{group: " + group + ", kind: " + kind + "}"
}

// controllerOf is the object's controlling ownerReference.
func controllerOf(o map[string]any) OwnerRef {
	md, _ := o["metadata"].(map[string]any)
	refs, _ := md["ownerReferences"].([]any)
	for _, x := range refs {
		m, _ := x.(map[string]any)
		if c, _ := m["controller"].(bool); !c {
			continue
		}
		s := func(k string) string { v, _ := m[k].(string); return v }
		return OwnerRef{APIVersion: s("apiVersion"), Kind: s("kind"), Name: s("name")}
	}
	return OwnerRef{}
}
