package config

import (
	"slices"
	"strings"
	"testing"
)

func TestAdmins(t *testing.T) {
	if got := Default().Admins; !slices.Equal(got.Groups, []string{"system:masters"}) || len(got.Users)+len(got.ServiceAccounts) != 0 {
		t.Errorf("default admins = %+v, want groups [system:masters]", got)
	}
	// a config without the block gets the same default
	c, err := Parse([]byte("defaultMode: warn\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Admins.Groups, []string{"system:masters"}) {
		t.Errorf("admins without the block = %+v, want groups [system:masters]", c.Admins)
	}
	// written out, it is taken as written, even when it names nobody
	c, err = Parse([]byte("admins: {users: [], groups: [], serviceAccounts: []}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Admins.Users)+len(c.Admins.Groups)+len(c.Admins.ServiceAccounts) != 0 {
		t.Errorf("explicitly empty admins = %+v, want nobody", c.Admins)
	}
	c, err = Parse([]byte("admins: {users: [ops], serviceAccounts: [argocd/argocd-application-controller]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Admins.Users, []string{"ops"}) || len(c.Admins.Groups) != 0 {
		t.Errorf("admins = %+v, want only what is written", c.Admins)
	}
	for _, bad := range []string{"admins: {serviceAccounts: [argocd]}", "admins: {serviceAccounts: [Argo/x]}"} {
		_, err := Parse([]byte(bad))
		if err == nil || !strings.Contains(err.Error(), "admins.serviceAccounts[0]") {
			t.Errorf("%s: err = %v, want one naming admins.serviceAccounts[0]", bad, err)
		}
	}
	if _, err := Parse([]byte("admins: {group: [x]}")); err == nil || !strings.Contains(err.Error(), `unknown field "group"`) {
		t.Errorf("misspelt admins field: err = %v", err)
	}
}

func TestTenancyGuardParams(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{`protectedConfigMaps: "driftguard-system/dg-driftguard-config"`, "policies.tenancy_guard.params.protectedConfigMaps: must be a list of namespace/name"},
		{`protectedConfigMaps: [dg-driftguard-config]`, "policies.tenancy_guard.params.protectedConfigMaps[0]: dg-driftguard-config must be namespace/name"},
		{`protectedConfigMaps: [{namespace: a, name: b}]`, "protectedConfigMaps[0]"},
		{`tenantLabel: driftguard.io/tenant`, "policies.tenancy_guard.params.tenantLabel: must be {key: <label key>, value: <label value>}"},
		{`tenantLabel: {value: "true"}`, "tenantLabel: must be"},
		{`tenantLabel: {key: driftguard.io/tenant, value: [a]}`, "tenantLabel.value: must be a label value"},
	} {
		_, err := Parse([]byte("policies:\n  tenancy_guard:\n    params:\n      " + tc.yaml + "\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.yaml, err, tc.want)
		}
	}
	for _, ok := range []string{
		`protectedConfigMaps: [driftguard-system/dg-driftguard-config, ops/driftguard-policies]`,
		`protectedConfigMaps: []`,
		`tenantLabel: {key: platform.example.com/tenant, value: yes}`,
		`tenantLabel: {key: driftguard.io/tenant, value: true}`,
	} {
		if _, err := Parse([]byte("policies:\n  tenancy_guard:\n    params:\n      " + ok + "\n")); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}
