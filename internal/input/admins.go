package input

import (
	"slices"

	"github.com/driftguard/driftguard/internal/config"
)

// admins indexes config admins: who may opt a namespace out of
// enforcement and edit driftguard's own settings (policy tenancy_guard).
// doc is input.admins, built once per config: the policy names the
// admins in its messages.
type admins struct {
	users, groups, serviceAccounts map[string]bool
	doc                            map[string]any
}

func newAdmins(c config.Identities) *admins {
	return &admins{
		users:           set(c.Users),
		groups:          set(c.Groups),
		serviceAccounts: set(c.ServiceAccounts),
		doc: map[string]any{
			"users":           stringsToAny(slices.Clone(c.Users)),
			"groups":          stringsToAny(slices.Clone(c.Groups)),
			"serviceAccounts": stringsToAny(slices.Clone(c.ServiceAccounts)),
		},
	}
}

// is reports whether the authenticated actor is an admin: by user name,
// by service account (namespace/name), or by any of its groups. The field
// manager plays no part.
func (a *admins) is(act *Actor) bool {
	if a.users[act.Username] {
		return true
	}
	if act.SAName != "" && a.serviceAccounts[act.SANamespace+"/"+act.SAName] {
		return true
	}
	for _, g := range act.Groups {
		if a.groups[g] {
			return true
		}
	}
	return false
}

// adminKinds are the kinds whose input carries input.admins.
var adminKinds = map[string]bool{"Namespace": true, "ConfigMap": true}
