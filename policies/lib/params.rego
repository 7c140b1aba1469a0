# Per-policy parameters: the one way a policy reads its config.
package driftguard.lib

# params(name, defaults): the policy's params from config
# (policies.<name>.params, data.driftguard.params.<name>) over its
# defaults, key by key (nested objects merge, lists are replaced), so
# every policy works with no params in config and with no params
# document at all (Rego unit tests, --no-config). A policy reads it once:
#
#	params := lib.params("my_policy", {"tenantNamespaces": ["tenant-*"]})
#
# and then params.tenantNamespaces.
params(name, defaults) := object.union(defaults, p) if {
	p := data.driftguard.params[name]
	is_object(p)
} else := defaults
