//go:build e2e

package e2e

// The decision trail through the real API server: a denied hand edit and
// a break-glass edit of a Terraform Deployment, and a denied hand edit of
// an ExternalSecret's Secret, each leave one "admission decision" line in
// driftguard's log (--log-format json) and an Event (events.k8s.io/v1) on
// the object, which kubectl events --for and kubectl describe show; so does
// a hand edit allowed in warn mode (DriftRecorded). Planted
// values (image tags, Secret data) appear in neither. A dry run is logged
// but leaves no Event.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/driftguard/driftguard/internal/config"
)

const trailNS = "trail-a"

// Planted values: each must appear in no log line and no Event.
const (
	trailTagDenied = "pl4nted-denied-Tq3v"
	trailTagBG     = "pl4nted-breakglass-Lm8d"
	trailTagDry    = "pl4nted-dryrun-Xe5r"
	trailTagWarn   = "pl4nted-warn-Pz6y"
	trailSecretOld = "pl4nted-secret-old-Vb2n"
	trailSecretNew = "pl4nted-secret-new-Kc7w"
)

// trailEvent is the part of an events.k8s.io/v1 Event the test reads.
type trailEvent struct {
	Reason              string `json:"reason"`
	Type                string `json:"type"`
	Action              string `json:"action"`
	Note                string `json:"note"`
	ReportingController string `json:"reportingController"`
	ReportingInstance   string `json:"reportingInstance"`
	Regarding           struct {
		APIVersion, Kind, Namespace, Name, UID string
	} `json:"regarding"`
	Series *struct {
		Count int `json:"count"`
	} `json:"series"`
}

// trailEvents reads the namespace's Events from the API server.
func trailEvents(t *testing.T) ([]trailEvent, string) {
	t.Helper()
	r := s.kubectl("get", "events.events.k8s.io", "-n", trailNS, "-o", "json")
	if r.code != 0 {
		t.Fatalf("listing Events: %s", r)
	}
	var list struct {
		Items []trailEvent `json:"items"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatal(err)
	}
	return list.Items, r.stdout
}

// waitEvent waits for an Event with this reason on the named object.
func waitEvent(t *testing.T, name, reason string) trailEvent {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		evs, raw := trailEvents(t)
		for _, ev := range evs {
			if ev.Regarding.Name == name && ev.Reason == reason {
				return ev
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s Event on %s within 30s; Events:\n%s", reason, name, raw)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// decisionLines are the "admission decision" lines of driftguard's log
// about objects in trailNS.
func decisionLines(t *testing.T) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(s.logFile)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, l := range strings.Split(string(b), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil || m["msg"] != "admission decision" || m["namespace"] != trailNS {
			continue
		}
		out = append(out, m)
	}
	return out
}

// waitLine waits for the decision line of this object and decision.
func waitLine(t *testing.T, kind, name, decision string, dryRun bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, l := range decisionLines(t) {
			if l["kind"] == kind && l["name"] == name && l["decision"] == decision && l["dryRun"] == dryRun {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no decision line %s %s/%s %s dryRun=%v; have %v", kind, trailNS, name, decision, dryRun, decisionLines(t))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func imagePatch(image string, annotations string) string {
	return fmt.Sprintf(`{%s"spec":{"template":{"spec":{"containers":[{"name":"api","image":"%s"}]}}}}`, annotations, image)
}

func TestDecisionTrail(t *testing.T) {
	var deployUID, secretUID string
	if !t.Run("setup", func(t *testing.T) {
		mustSucceed(t, s.kubectl("create", "namespace", trailNS))
		for _, name := range []string{"api", "api2", "api3"} {
			expectAllowed(t, kIn(asTerraform, terraformDeploymentIn(trailNS, name, imgV1),
				"apply", "--server-side", "--field-manager=Terraform", "--force-conflicts", "-f", "-"))
		}
		deployUID = uid(t, "deployment/api", trailNS)
		mustSucceed(t, kIn(asESO, `apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: creds, namespace: trail-a}
spec:
  refreshInterval: 1h
  secretStoreRef: {kind: ClusterSecretStore, name: parameter-store}
  target: {name: creds}
  dataFrom:
  - extract: {key: /trail-a/creds}
`, "apply", "--server-side", "--field-manager=external-secrets", "-f", "-"))
		esUID := uid(t, "externalsecret/creds", trailNS)
		mustSucceed(t, kIn(asESO, fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: trail-a
  ownerReferences:
  - {apiVersion: external-secrets.io/v1, kind: ExternalSecret, name: creds, uid: %s, controller: true}
type: Opaque
data:
  DATABASE_URL: %s
`, esUID, base64.StdEncoding.EncodeToString([]byte(trailSecretOld))), "apply", "--server-side", "--field-manager=external-secrets", "-f", "-"))
		secretUID = uid(t, "secret/creds", trailNS)
	}) {
		t.FailNow()
	}

	t.Run("a dry run is logged, with no Event", func(t *testing.T) {
		r := k(asAlice, "patch", "deployment", "api2", "-n", trailNS, "--dry-run=server", "-p", imagePatch("ghcr.io/acme/api:"+trailTagDry, ""))
		expectDenied(t, r, imagePath)
		waitLine(t, "Deployment", "api2", "deny", true)
	})

	t.Run("denied hand edit: log line and HandEditDenied Event", func(t *testing.T) {
		r := k(asAlice, "patch", "deployment", "api", "-n", trailNS, "-p", imagePatch("ghcr.io/acme/api:"+trailTagDenied, ""))
		expectDenied(t, r, imagePath)
		l := waitLine(t, "Deployment", "api", "deny", false)
		if l["user"] != "alice" || l["operation"] != "UPDATE" || l["owner"] != "terraform" || l["uid"] == "" {
			t.Errorf("decision line %v", l)
		}
		if f, _ := json.Marshal(l["fields"]); !strings.Contains(string(f), imagePath) {
			t.Errorf("decision line fields %s lack %s", f, imagePath)
		}
		ev := waitEvent(t, "api", "HandEditDenied")
		if ev.Type != "Warning" || ev.Action != "Denied" || ev.ReportingController != "driftguard.io/admission" || ev.ReportingInstance == "" ||
			ev.Regarding.APIVersion != "apps/v1" || ev.Regarding.Kind != "Deployment" || ev.Regarding.UID != deployUID {
			t.Errorf("Event %+v", ev)
		}
		if host, _ := os.Hostname(); ev.ReportingInstance != host && os.Getenv("POD_NAME") == "" {
			t.Errorf("reportingInstance %q, want the hostname %q (no POD_NAME)", ev.ReportingInstance, host)
		}
		for _, w := range []string{"alice", imagePath, "terraform", "owned_fields"} {
			if !strings.Contains(ev.Note, w) {
				t.Errorf("Event note %q lacks %q", ev.Note, w)
			}
		}
	})

	t.Run("break-glass: log line and BreakGlassUsed Event", func(t *testing.T) {
		r := k(asBreakGlass, "patch", "deployment", "api", "-n", trailNS, "-p",
			imagePatch("ghcr.io/acme/api:"+trailTagBG, `"metadata":{"annotations":{"driftguard.io/break-glass":"INC-`+trailTagBG+`"}},`))
		expectAllowed(t, r)
		anyWarning(t, r, "allowed by break-glass")
		l := waitLine(t, "Deployment", "api", "break_glass", false)
		if l["user"] != "alice" || l["owner"] != "terraform" {
			t.Errorf("decision line %v", l)
		}
		ev := waitEvent(t, "api", "BreakGlassUsed")
		if ev.Type != "Warning" || ev.Action != "Allowed" || ev.Regarding.UID != deployUID || !strings.Contains(ev.Note, "alice used break-glass") {
			t.Errorf("Event %+v", ev)
		}
	})

	t.Run("denied hand edit of an ExternalSecret's Secret: log line and Event", func(t *testing.T) {
		r := k(asAlice, "patch", "secret", "creds", "-n", trailNS, "--type=merge",
			"-p", `{"data":{"API_KEY":"`+base64.StdEncoding.EncodeToString([]byte(trailSecretNew))+`"},"stringData":{"PASSWORD":"`+trailSecretNew+`"}}`)
		expectDenied(t, r, "API_KEY (add)")
		waitLine(t, "Secret", "creds", "deny", false)
		ev := waitEvent(t, "creds", "HandEditDenied")
		if ev.Regarding.Kind != "Secret" || ev.Regarding.UID != secretUID || !strings.Contains(ev.Note, "externalsecret_owned") {
			t.Errorf("Event %+v", ev)
		}
	})

	t.Run("owned_fields in warn mode: log line and DriftRecorded Event", func(t *testing.T) {
		def := config.DefaultYAML()
		warnCfg := strings.Replace(string(def), "  owned_fields:\n", "  owned_fields:\n    mode: warn\n", 1)
		if warnCfg == string(def) {
			t.Fatal("could not switch owned_fields to warn mode in the default config")
		}
		reload(t, []byte(warnCfg))
		defer reload(t, def)
		r := k(asAlice, "set", "image", "deployment/api3", "api=ghcr.io/acme/api:"+trailTagWarn, "-n", trailNS)
		expectAllowed(t, r)
		anyWarning(t, r, "allowed by warn mode, recorded as drift")
		l := waitLine(t, "Deployment", "api3", "warn", false)
		if l["user"] != "alice" || l["owner"] != "terraform" {
			t.Errorf("decision line %v", l)
		}
		ev := waitEvent(t, "api3", "DriftRecorded")
		if ev.Type != "Normal" || ev.Action != "Allowed" || ev.Regarding.UID != uid(t, "deployment/api3", trailNS) ||
			!strings.Contains(ev.Note, "hand edit by alice allowed in warn mode") || !strings.Contains(ev.Note, imagePath) {
			t.Errorf("Event %+v", ev)
		}
	})

	t.Run("kubectl events --for and kubectl describe show the Events", func(t *testing.T) {
		r := s.kubectl("events", "--for", "deployment/api", "-n", trailNS)
		mustSucceed(t, r)
		for _, w := range []string{"HandEditDenied", "BreakGlassUsed", "driftguard denied the update by alice"} {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("kubectl events --for deployment/api lacks %q:\n%s", w, r.stdout)
			}
		}
		r = s.kubectl("describe", "deployment", "api", "-n", trailNS)
		mustSucceed(t, r)
		_, evs, _ := strings.Cut(r.stdout, "\nEvents:")
		for _, w := range []string{"HandEditDenied", "BreakGlassUsed"} {
			if !strings.Contains(evs, w) {
				t.Errorf("kubectl describe's Events lack %s:\n%s", w, r.stdout)
			}
		}
	})

	t.Run("no Event for the dry run; no planted value in the log or any Event", func(t *testing.T) {
		evs, raw := trailEvents(t)
		for _, ev := range evs {
			if ev.Regarding.Name == "api2" {
				t.Errorf("the dry run left an Event: %+v", ev)
			}
		}
		log, err := os.ReadFile(s.logFile)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{trailTagDenied, trailTagBG, trailTagDry, trailTagWarn, trailSecretOld, trailSecretNew} {
			for _, p := range []string{v, base64.StdEncoding.EncodeToString([]byte(v))} {
				if strings.Contains(string(log), p) {
					t.Errorf("driftguard's log carries planted value %q", p)
				}
				if strings.Contains(raw, p) {
					t.Errorf("an Event carries planted value %q:\n%s", p, raw)
				}
			}
		}
	})
}
