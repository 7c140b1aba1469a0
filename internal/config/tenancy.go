package config

import (
	"fmt"
	"strings"
)

// validateTenancyGuard checks the params of the bundled tenancy_guard
// policy: a malformed one would otherwise protect nothing, silently.
func validateTenancyGuard(p PolicyConfig) []error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("policies.tenancy_guard.params."+format, a...))
	}
	if v, ok := p.Params["tenantLabel"]; ok {
		m, isMap := v.(map[string]any)
		key, _ := m["key"].(string)
		if !isMap || strings.TrimSpace(key) == "" {
			bad("tenantLabel: must be {key: <label key>, value: <label value>}, got %v", v)
		} else {
			switch m["value"].(type) {
			case string, bool, float64, int64:
			default:
				bad("tenantLabel.value: must be a label value, got %v", m["value"])
			}
		}
	}
	if v, ok := p.Params["protectedConfigMaps"]; ok && v != nil {
		list, isList := v.([]any)
		if !isList {
			bad("protectedConfigMaps: must be a list of namespace/name, got %v", v)
		}
		for i, x := range list {
			s, _ := x.(string)
			if ns, n, ok := strings.Cut(s, "/"); !ok || !nameRe.MatchString(ns) || !saNameRe.MatchString(n) {
				bad("protectedConfigMaps[%d]: %v must be namespace/name", i, x)
			}
		}
	}
	return errs
}
