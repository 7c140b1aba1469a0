package chart

import (
	"os/exec"
	"strings"
	"testing"
)

// renderedConfig is the driftguard config the chart mounts.
// secretAuditKinds counts core Secret entries of the config's audit.kinds.
func secretAuditKinds(cfg obj) (n int, metadataOnly bool) {
	for _, k := range list(cfg, "audit.kinds") {
		if str(k, "kind") == "Secret" && str(k, "group") == "" {
			n++
			metadataOnly = get(k, "metadataOnly") == true
		}
	}
	return n, metadataOnly
}

// clusterSecretVerbs lists the verbs a ClusterRole grants on core secrets.
func clusterSecretVerbs(r rendered) []string {
	var verbs []string
	for _, role := range r.all("ClusterRole") {
		for key, v := range rulesByResource(role) {
			if key == "/secrets" || strings.HasPrefix(key, "/secrets:") || key == "*/secrets" {
				verbs = append(verbs, v...)
			}
		}
	}
	return verbs
}

// TestSecretAuditIsOptIn: the default install grants no Secret reads
// cluster-wide and its config does not audit Secrets (the audit would try
// to watch what it may not read); audit.secrets.enabled adds both.
func TestSecretAuditIsOptIn(t *testing.T) {
	for _, args := range [][]string{nil, {"--set", "certificates.mode=selfManaged"}, {"--set", "config.defaultMode=warn"}} {
		r := render(t, args...)
		if v := clusterSecretVerbs(r); len(v) > 0 {
			t.Errorf("render %v: a ClusterRole grants %v on secrets; the default install must not read Secrets cluster-wide", args, v)
		}
		if n, _ := secretAuditKinds(renderedConfig(t, r, release+"-driftguard")); n != 0 {
			t.Errorf("render %v: config.audit.kinds has %d Secret entries, want none by default", args, n)
		}
	}

	r := render(t, "--set", "audit.secrets.enabled=true")
	if v := clusterSecretVerbs(r); strings.Join(v, ",") != "get,list,watch" {
		t.Errorf("audit.secrets.enabled: ClusterRole verbs on secrets = %v, want get,list,watch", v)
	}
	n, metaOnly := secretAuditKinds(renderedConfig(t, r, release+"-driftguard"))
	if n != 1 || !metaOnly {
		t.Errorf("audit.secrets.enabled: config.audit.kinds has %d Secret entries (metadataOnly %v), want one metadataOnly", n, metaOnly)
	}
	cfg := renderedConfig(t, r, release+"-driftguard")
	if len(list(cfg, "audit.kinds")) != 5 || len(list(cfg, "owners")) == 0 {
		t.Errorf("audit.secrets.enabled dropped the default audit kinds or owners: %v", list(cfg, "audit.kinds"))
	}
	checkNoWildcards(t, r)

	// listed by hand as well: not twice
	r = render(t, "--set", "audit.secrets.enabled=true", "--set-json", `config.audit.kinds=[{"version":"v1","kind":"Secret","metadataOnly":true}]`)
	if n, _ := secretAuditKinds(renderedConfig(t, r, release+"-driftguard")); n != 1 {
		t.Errorf("Secret listed in config.audit.kinds and audit.secrets.enabled: %d entries, want 1", n)
	}

	// without the audit there is nothing to read Secrets for
	r = render(t, "--set", "audit.secrets.enabled=true", "--set", "server.audit=false")
	if v := clusterSecretVerbs(r); len(v) > 0 {
		t.Errorf("server.audit=false: ClusterRole grants %v on secrets", v)
	}
}

// TestSecretAuditKindWithoutGrant: a Secret kind added to
// config.audit.kinds without audit.secrets.enabled fails the render with
// a message that names the value to set.
func TestSecretAuditKindWithoutGrant(t *testing.T) {
	args := []string{"template", release, "charts/driftguard", "-n", namespace, "--kube-version", kubeVersion,
		"--set-json", `config.audit.kinds=[{"version":"v1","kind":"Secret","metadataOnly":true}]`}
	_, errOut, err := helm(t, args...)
	if err == nil {
		t.Fatal("helm template succeeded, want a failure")
	}
	if _, ok := err.(*exec.ExitError); !ok {
		t.Fatalf("helm did not run: %v", err)
	}
	if !strings.Contains(errOut, "audit.secrets.enabled") {
		t.Errorf("error does not name audit.secrets.enabled:\n%s", errOut)
	}
}
