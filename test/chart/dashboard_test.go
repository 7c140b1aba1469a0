package chart

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The Grafana dashboard ConfigMap (dashboard.enabled): the chart's copy of
// the dashboard is deploy/grafana's, rendered verbatim, labelled for the
// Grafana sidecar.
func TestDashboard(t *testing.T) {
	root := repoRoot(t)
	shipped, err := os.ReadFile(filepath.Join(root, "deploy", "grafana", "driftguard-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	copied, err := os.ReadFile(filepath.Join(root, "charts", "driftguard", "files", "driftguard-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(copied, shipped) {
		t.Error("charts/driftguard/files/driftguard-dashboard.json differs from deploy/grafana/driftguard-dashboard.json; run\n\tcp deploy/grafana/driftguard-dashboard.json charts/driftguard/files/driftguard-dashboard.json")
	}

	if cms := render(t).all("ConfigMap"); len(cms) != 2 {
		names := []string{}
		for _, cm := range cms {
			names = append(names, str(cm, "metadata.name"))
		}
		t.Errorf("defaults render ConfigMaps %v, want only config and policies (dashboard.enabled is false)", names)
	}

	r := render(t, "--set", "dashboard.enabled=true", "--set", "dashboard.annotations.grafana_folder=Platform",
		"--set", "dashboard.labels.team=platform")
	cm := r.named(t, "ConfigMap", fullname+"-dashboard")
	if str(cm, "metadata.namespace") != namespace {
		t.Errorf("dashboard ConfigMap namespace %q, want %q", str(cm, "metadata.namespace"), namespace)
	}
	for k, v := range map[string]string{"grafana_dashboard": "1", "team": "platform", "app.kubernetes.io/instance": release} {
		if got := getLabel(cm, k); got != v {
			t.Errorf("dashboard ConfigMap label %s = %q, want %q", k, got, v)
		}
	}
	if got := getLabelish(cm, "metadata.annotations", "grafana_folder"); got != "Platform" {
		t.Errorf("dashboard ConfigMap annotation grafana_folder = %q", got)
	}
	data, _ := get(cm, "data").(obj)
	if len(data) != 1 {
		t.Fatalf("dashboard ConfigMap data keys %v, want one", data)
	}
	body, _ := data["driftguard-dashboard.json"].(string)
	if body != strings.TrimSpace(string(shipped)) {
		t.Error("the ConfigMap's driftguard-dashboard.json is not deploy/grafana/driftguard-dashboard.json")
	}
	var d struct {
		UID    string `json:"uid"`
		Panels []any  `json:"panels"`
	}
	if err := json.Unmarshal([]byte(body), &d); err != nil || d.UID != "driftguard" || len(d.Panels) == 0 {
		t.Errorf("the rendered dashboard does not decode (%v) or is empty: uid %q, %d panels", err, d.UID, len(d.Panels))
	}

	// the sidecar label can be replaced
	r = render(t, "--set", "dashboard.enabled=true", "--set", "dashboard.labels.grafana_dashboard=null", "--set", "dashboard.labels.dashboards=driftguard")
	cm = r.named(t, "ConfigMap", fullname+"-dashboard")
	if getLabel(cm, "grafana_dashboard") != "" || getLabel(cm, "dashboards") != "driftguard" {
		t.Errorf("labels %v, want dashboards=driftguard without grafana_dashboard", get(cm, "metadata.labels"))
	}

	if _, errOut, err := helm(t, "template", release, "charts/driftguard", "-n", namespace, "--kube-version", kubeVersion,
		"--set", "dashboard.folder=x"); err == nil || !strings.Contains(errOut, "folder") {
		t.Errorf("an unknown dashboard value renders (err %v):\n%s", err, errOut)
	}
}
