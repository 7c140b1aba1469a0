//go:build e2e

package e2e

// docs/alert-to-object.md walks an on-call engineer from a drift alert to
// the object, the field and the owner. This test makes the situation the
// page describes (a hand edit made before driftguard watched the
// namespace), runs every command the page shows against the real API
// server, Prometheus and driftguard, and compares each output with the
// page (times and ages aside).

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const oncallNS = "oncall-a"

// pageBlock is what docs/alert-to-object.md shows after "$ <command>": the
// lines up to the next "$ " line or the end of the block.
func pageBlock(t *testing.T, command string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.repoRoot, "docs", "alert-to-object.md"))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.SplitN(string(b), "$ "+command+"\n", 2)
	if len(parts) != 2 {
		t.Fatalf("docs/alert-to-object.md does not show `$ %s`", command)
	}
	var out []string
	for _, l := range strings.Split(parts[1], "\n") {
		if strings.HasPrefix(l, "$ ") || strings.HasPrefix(l, "```") {
			break
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n") + "\n"
}

var (
	timesRe = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)
	agesRe  = regexp.MustCompile(`(?m)^(\S+\s+)?\d+(\.\d+)?(ms|s|m|h)(\d+s)?\b`)
	spaceRe = regexp.MustCompile(`[ \t]+`)
)

// normal makes outputs comparable across runs: times and the first-column
// ages of kubectl become placeholders, runs of blanks one blank (column
// widths follow the values).
func normal(s string) string {
	s = timesRe.ReplaceAllString(s, "<time>")
	s = agesRe.ReplaceAllString(s, "${1}<age>")
	return spaceRe.ReplaceAllString(s, " ")
}

func expectPage(t *testing.T, command, got string) {
	t.Helper()
	if want := pageBlock(t, command); normal(want) != normal(got) {
		t.Errorf("docs/alert-to-object.md shows after `$ %s`:\n%s\nit prints now:\n%s", command, want, got)
	}
}

// alertLines is what the page's jq command prints: namespace, summary and
// runbook of each firing DriftguardDriftPresent alert in the namespace.
func alertLines(t *testing.T, p *prometheus) string {
	t.Helper()
	resp, err := http.Get("http://" + p.addr + "/api/v1/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Alerts []struct {
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
				State       string            `json:"state"`
			} `json:"alerts"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, a := range body.Data.Alerts {
		if a.Labels["alertname"] == "DriftguardDriftPresent" && a.State == "firing" && a.Labels["namespace"] == oncallNS {
			out.WriteString(a.Labels["namespace"] + "\n" + a.Annotations["summary"] + "\n" + a.Annotations["runbook"] + "\n")
		}
	}
	return out.String()
}

func TestFromAlertToObject(t *testing.T) {
	if !s.bundled {
		t.Skip("needs the bundled policies")
	}
	prom := startPrometheus(t)
	mustSucceed(t, s.kubectl("create", "namespace", oncallNS))
	// edits here happen "before driftguard watched the namespace"
	mustSucceed(t, s.kubectl("label", "namespace", oncallNS, "driftguard.io/ignore=true"))
	mustSucceed(t, kIn(asTerraform, terraformDeploymentIn(oncallNS, "checkout", "ghcr.io/acme/checkout:1.4.2"),
		"apply", "--server-side", "--field-manager=Terraform", "--force-conflicts", "-f", "-"))
	mustSucceed(t, k(asAlice, "set", "image", "deployment/checkout", "-n", oncallNS, "api=ghcr.io/acme/checkout:1.4.3-hotfix", "--field-manager=kubectl-edit"))
	mustSucceed(t, s.kubectl("label", "namespace", oncallNS, "driftguard.io/ignore-"))

	prom.waitFiring(t, "DriftguardDriftPresent", map[string]string{"namespace": oncallNS, "policy": "owned_fields", "kind": "Deployment"}, 60*time.Second)
	expectPage(t, `curl -s http://prometheus:9090/api/v1/alerts | jq -r '.data.alerts[] | select(.labels.alertname == "DriftguardDriftPresent" and .state == "firing") | .labels.namespace, .annotations.summary, .annotations.runbook'`,
		alertLines(t, prom))

	// the audit's Report names the object (written each pass)
	var r result
	waitUntil(t, "the Report lists the hand edit", 30*time.Second, func() bool {
		r = driftRun(t, "-n", oncallNS)
		return r.code == 1
	})
	expectPage(t, "driftguard drift -n "+oncallNS, r.stdout)
	expectPage(t, "driftguard drift -n "+oncallNS+" -o wide", driftRun(t, "-n", oncallNS, "-o", "wide").stdout)

	// what the person sees who tries again, and the Event it leaves
	again := k(asAlice, "scale", "deployment/checkout", "-n", oncallNS, "--replicas=5")
	expectDenied(t, again, "Terraform")
	expectPage(t, "kubectl scale deployment/checkout -n "+oncallNS+" --replicas=5", again.stderr)
	waitUntil(t, "the HandEditDenied Event", 30*time.Second, func() bool {
		return strings.Contains(s.kubectl("events", "-n", oncallNS, "--for", "deployment/checkout").stdout, "HandEditDenied")
	})
	expectPage(t, "kubectl events -n "+oncallNS+" --for deployment/checkout", s.kubectl("events", "-n", oncallNS, "--for", "deployment/checkout").stdout)

	// explain's drift section
	ex := explainRun(t, "deployment/checkout", "-n", oncallNS)
	section := ex.stdout
	if i := strings.Index(section, "6. Drift"); i >= 0 {
		section = section[i:]
	} else {
		t.Fatalf("explain shows no drift section:\n%s", ex)
	}
	if i := strings.Index(section, "\n7. "); i >= 0 {
		section = section[:i+1]
	}
	expectPage(t, "driftguard explain deployment/checkout -n "+oncallNS+" | sed -n '/^6. Drift/,$p'", section)

	// the fix: the owner re-applies; the finding and the alert go
	mustSucceed(t, kIn(asTerraform, terraformDeploymentIn(oncallNS, "checkout", "ghcr.io/acme/checkout:1.4.2"),
		"apply", "--server-side", "--field-manager=Terraform", "--force-conflicts", "-f", "-"))
	waitUntil(t, "the finding leaves the Report", 30*time.Second, func() bool {
		r = driftRun(t, "-n", oncallNS)
		return r.code == 0
	})
	expectPage(t, "driftguard drift -n "+oncallNS+" # after terraform apply", r.stdout)
}
