# Unit tests of lib.params, the one way policies read their params.
package driftguard.lib.params_test

import data.driftguard.lib

defaults := {"tenantNamespaces": ["tenant-*"], "label": {"key": "team", "value": "a"}}

test_params_default_without_config if {
	lib.params("p", defaults) == defaults
	lib.params("p", defaults) == defaults with data.driftguard.params as {}
	lib.params("p", defaults) == defaults with data.driftguard.params as {"p": "not an object"}
}

# Config wins key by key; nested objects merge, lists are replaced.
test_params_config_over_defaults if {
	p := lib.params("p", defaults) with data.driftguard.params as {"p": {"tenantNamespaces": ["team-*"], "label": {"value": "b"}, "extra": 1}}
	p == {"tenantNamespaces": ["team-*"], "label": {"key": "team", "value": "b"}, "extra": 1}
}
