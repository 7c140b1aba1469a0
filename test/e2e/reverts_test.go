//go:build e2e

package e2e

// Reverts observed, not only predicted: the real kube-controller-manager
// (deployment, replicaset and garbage-collector controllers, built from
// the pinned k8s.io/kubernetes by hack/e2e-assets.sh) and a stand-in for
// metacontroller (test/standin: not metacontroller, a reconciler with its
// InPlace behaviour) run against the suite's API server while people edit
// their children. driftguard's revert detector on the audit leader must
// see each revert, say whether its warning came true, and name the config
// that would have predicted a revert it did not warn about.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	orv1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"

	"github.com/driftguard/driftguard/internal/audit"
	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/test/standin"
)

// startComponent runs a binary of KUBEBUILDER_ASSETS as user until the
// test ends, with a kubeconfig for that user (in KUBECONFIG, and in args
// where they say {kubeconfig}); its log tail is shown when the test fails.
func startComponent(t *testing.T, binary, user string, args ...string) {
	t.Helper()
	bin := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), binary)
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is not in KUBEBUILDER_ASSETS (run hack/e2e-assets.sh): %v", binary, err)
	}
	u, err := s.env.AddUser(envtest.User{Name: user}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := u.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, binary+".kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, "{kubeconfig}", kubeconfig)
	}
	log, err := os.Create(filepath.Join(dir, binary+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("%s log tail:\n%s", binary, tail(string(b), 30))
		}
	})
}

// startControllerManager runs kube-controller-manager with the
// controllers that reconcile Deployments, as system:kube-controller-manager,
// until the test ends.
func startControllerManager(t *testing.T) {
	t.Helper()
	startComponent(t, "kube-controller-manager", "system:kube-controller-manager",
		"--kubeconfig", "{kubeconfig}", "--leader-elect=false", "--secure-port=0",
		"--controllers=deployment-controller,replicaset-controller,garbage-collector-controller")
}

// setRevertWindow shortens audit.reverts.window in driftguard's config.
func setRevertWindow(t *testing.T, window string) {
	t.Helper()
	loads := metric(t, "driftguard_policy_loads_total", nil)
	cfg := strings.Replace(string(config.DefaultYAML()), "    window: 10m\n", "    window: "+window+"\n", 1)
	if !strings.Contains(cfg, "window: "+window) {
		t.Fatal("could not place the revert window in the config")
	}
	if err := writeFileAtomic(s.configFile, []byte(cfg)); err != nil {
		t.Fatal(err)
	}
	waitMetricAbove(t, "driftguard_policy_loads_total", nil, loads, 15*time.Second)
	t.Cleanup(func() {
		if err := writeFileAtomic(s.configFile, config.DefaultYAML()); err != nil {
			t.Error(err)
		}
	})
}

func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// revertEvent waits for a RevertObserved Event on the named object in ns
// whose note contains every want.
func revertEvent(t *testing.T, ns, name string, wants ...string) trailEvent {
	t.Helper()
	var found trailEvent
	waitUntil(t, "a RevertObserved Event on "+ns+"/"+name, 30*time.Second, func() bool {
		r := s.kubectl("get", "events.events.k8s.io", "-n", ns, "-o", "json")
		var list struct {
			Items []trailEvent `json:"items"`
		}
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &list) != nil {
			return false
		}
		for _, ev := range list.Items {
			if ev.Reason != "RevertObserved" || ev.Regarding.Name != name {
				continue
			}
			ok := true
			for _, w := range wants {
				ok = ok && strings.Contains(ev.Note, w)
			}
			if ok {
				found = ev
				return true
			}
		}
		return false
	})
	return found
}

// revertFinding waits for the observed_revert finding of field on the
// named Deployment in ns's Report, with at least count reverts.
func revertFinding(t *testing.T, ns, name, field string, count int) audit.Finding {
	t.Helper()
	var f audit.Finding
	waitReport(t, ns, fmt.Sprintf("listing %d revert(s) of %s", count, field), func(r *orv1.Report) bool {
		for _, x := range reportFindings(r, "Deployment", name) {
			if x.Policy == "observed_revert" && x.Field == field && x.Count >= count {
				f = x
				return true
			}
		}
		return false
	}, 30*time.Second)
	return f
}

func logHas(t *testing.T, subs ...string) bool {
	t.Helper()
	b, err := os.ReadFile(s.logFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		ok := true
		for _, sub := range subs {
			ok = ok && strings.Contains(line, sub)
		}
		if ok {
			return true
		}
	}
	return false
}

func TestReverts(t *testing.T) {
	if !s.bundled {
		t.Skip("needs the bundled policies")
	}
	// the window is short so that "not come true" happens within the test
	// (the sweep runs every 10s)
	setRevertWindow(t, "15s")
	startControllerManager(t)

	const (
		profileNS = "rv-admin"
		orphanNS  = "rv-acme"
		child     = "ml-pipeline-ui-artifact"
		image     = "gcr.io/ml-pipeline/frontend"
	)
	for _, ns := range []string{profileNS, orphanNS} {
		mustSucceed(t, s.kubectl("create", "namespace", ns))
	}
	mustSucceed(t, s.kubectl("label", "namespace", profileNS, "driftguard-e2e/profile=true"))
	mustSucceed(t, s.kubectl("label", "namespace", orphanNS, "driftguard-e2e/acme=true"))
	mustSucceed(t, s.kubectl("create", "configmap", "pipeline-install-config", "-n", profileNS, "--from-literal=appVersion=2.0.5"))

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	errs := make(chan error, 10)
	reconcilers := []*standin.Metacontroller{
		// the Kubeflow profile controller's child of Namespace rv-admin
		{Config: s.env.Config, Identity: "system:serviceaccount:kubeflow:profile-controller", ProfileLabel: "driftguard-e2e/profile",
			PausedAnnotation: "driftguard-e2e/paused", Child: child, ConfigMap: profileNS + "/pipeline-install-config", Key: "appVersion", Image: image, Errors: errs},
		// an operator no config names, keeping an object it does not own
		{Config: s.env.Config, Identity: "system:serviceaccount:kubeflow:profile-controller", ProfileLabel: "driftguard-e2e/acme",
			Child: "web", ConfigMap: profileNS + "/pipeline-install-config", Key: "appVersion", Image: image, Manager: "acme-operator", Orphan: true, Errors: errs},
	}
	for _, r := range reconcilers {
		go func() { _ = r.Run(ctx) }()
	}
	imageOf := func(ns, name string) string {
		return get(t, "deployment/"+name, ns, "{.spec.template.spec.containers[0].image}")
	}
	waitUntil(t, "the stand-in renders its children", 30*time.Second, func() bool {
		select {
		case err := <-errs:
			t.Logf("stand-in: %v", err)
		default:
		}
		return s.kubectl("get", "deployment/"+child, "-n", profileNS).code == 0 && s.kubectl("get", "deployment/web", "-n", orphanNS).code == 0
	})
	predictions := func(outcome string) float64 {
		return metric(t, "driftguard_revert_predictions_total", map[string]string{"outcome": outcome})
	}

	t.Run("a warned image edit of a metacontroller child is reverted: the warning came true", func(t *testing.T) {
		cameTrue := predictions("came_true")
		reverts := metric(t, "driftguard_reverts_total", map[string]string{"namespace": profileNS, "reverter": "metacontroller", "predicted": "true", "older_image": "true"})
		r := k(asAlice, "set", "image", "deployment/"+child, "-n", profileNS, child+"="+image+":2.5.0")
		expectAllowed(t, r)
		anyWarning(t, r, "will be reverted", "Namespace/"+profileNS)
		waitUntil(t, "the stand-in sets the image back", 20*time.Second, func() bool { return imageOf(profileNS, child) == image+":2.0.5" })
		waitMetricAbove(t, "driftguard_revert_predictions_total", map[string]string{"outcome": "came_true"}, cameTrue, 20*time.Second)
		waitMetricAbove(t, "driftguard_reverts_total", map[string]string{"namespace": profileNS, "reverter": "metacontroller", "predicted": "true", "older_image": "true"}, reverts, 5*time.Second)
		waitUntil(t, "the revert log line", 5*time.Second, func() bool {
			return logHas(t, "revert observed", child, "spec.template.spec.containers["+child+"].image", "metacontroller")
		})
		field := "spec.template.spec.containers[" + child + "].image"
		ev := revertEvent(t, profileNS, child, field+" set by kubectl-set was reverted", "by manager metacontroller",
			"back to the older image "+image+":2.0.5", "driftguard warned of it (owner Namespace/"+profileNS+")")
		if ev.Type != "Warning" || ev.Regarding.Kind != "Deployment" || ev.Regarding.UID == "" {
			t.Fatalf("Event %+v", ev)
		}
		f := revertFinding(t, profileNS, child, field, 1)
		if f.Owner != "metacontroller" {
			t.Fatalf("report finding %+v", f)
		}
		// the same person edits again: told how often and by whom it was
		// reverted (every replica reads the reports)
		time.Sleep(2 * time.Second) // the Report reached the replicas' caches
		r = k(asAlice, "set", "image", "deployment/"+child, "-n", profileNS, child+"="+image+":2.5.1")
		expectAllowed(t, r)
		anyWarning(t, r, field+" of Deployment "+profileNS+"/"+child+" was reverted 1 time(s) in the last hour by metacontroller")
		waitUntil(t, "the stand-in sets the image back again", 20*time.Second, func() bool { return imageOf(profileNS, child) == image+":2.0.5" })
		revertFinding(t, profileNS, child, field, 2)
	})

	t.Run("a revert by a reconciler no config names is missed", func(t *testing.T) {
		missed := predictions("missed")
		r := k(asAlice, "set", "image", "deployment/web", "-n", orphanNS, "web="+image+":2.6.0")
		expectAllowed(t, r)
		for _, w := range r.warnings() {
			if strings.Contains(w, "will be reverted") {
				t.Fatalf("warned although no config names acme-operator: %s", w)
			}
		}
		waitUntil(t, "acme-operator sets the image back", 20*time.Second, func() bool { return imageOf(orphanNS, "web") == image+":2.0.5" })
		waitMetricAbove(t, "driftguard_revert_predictions_total", map[string]string{"outcome": "missed"}, missed, 20*time.Second)
		if v := metric(t, "driftguard_reverts_total", map[string]string{"namespace": orphanNS, "reverter": "other", "predicted": "false"}); v < 1 {
			t.Fatalf("driftguard_reverts_total{reverter=other,predicted=false} = %v", v)
		}
		waitUntil(t, "the revert log line names the config that would have predicted it", 5*time.Second, func() bool {
			return logHas(t, "revert observed", `"web"`, "acme-operator", "add to owners")
		})
		revertEvent(t, orphanNS, "web", "by manager acme-operator", "driftguard did not predict it", "add to owners: {name: <owner>, managers: [acme-operator]")
		f := revertFinding(t, orphanNS, "web", "spec.template.spec.containers[web].image", 1)
		if !strings.Contains(f.Msg, "Config that would have predicted it: add to owners") {
			t.Fatalf("the missed revert's finding does not name the config: %+v", f)
		}
	})

	t.Run("a warned edit nobody reverts within the window did not come true", func(t *testing.T) {
		notCameTrue := predictions("not_came_true")
		mustSucceed(t, s.kubectl("annotate", "namespace", profileNS, "driftguard-e2e/paused=true"))
		t.Cleanup(func() { s.kubectl("annotate", "namespace", profileNS, "driftguard-e2e/paused-") })
		time.Sleep(time.Second) // a reconcile in flight finishes
		r := k(asAlice, "set", "image", "deployment/"+child, "-n", profileNS, child+"="+image+":2.7.0")
		expectAllowed(t, r)
		anyWarning(t, r, "will be reverted")
		// window 15s, sweep every 10s
		waitMetricAbove(t, "driftguard_revert_predictions_total", map[string]string{"outcome": "not_came_true"}, notCameTrue, 45*time.Second)
		if got := imageOf(profileNS, child); got != image+":2.7.0" {
			t.Fatalf("image %s: something reverted the paused child", got)
		}
	})

	t.Run("the real Deployment controller replaces a hand-edited ReplicaSet", func(t *testing.T) {
		const ns = "rv-kcm"
		mustSucceed(t, s.kubectl("create", "namespace", ns))
		mustSucceed(t, k(asAlice, "create", "deployment", "api", "-n", ns, "--image=ghcr.io/acme/api:1.0.0"))
		// Recreate: with no kubelet no Pod becomes available, so a rolling
		// update would keep the old ReplicaSet up beside the new one
		mustSucceed(t, k(asAlice, "patch", "deployment", "api", "-n", ns, "-p", `{"spec":{"strategy":{"type":"Recreate","rollingUpdate":null}}}`))
		var rs string
		waitUntil(t, "the Deployment controller creates a ReplicaSet", 30*time.Second, func() bool {
			rs = get(t, "replicasets", ns, "{.items[0].metadata.name}")
			return rs != ""
		})
		r := k(asAlice, "set", "image", "replicaset/"+rs, "-n", ns, "api=ghcr.io/acme/api:9.9.9")
		expectAllowed(t, r)
		anyWarning(t, r, "will be reverted", "Deployment/api")
		// the controller's answer: the edited ReplicaSet no longer matches
		// the Deployment's template, so it is scaled to zero and a new one
		// with the Deployment's image takes its place (the edit is not set
		// back field by field: the ReplicaSet is replaced)
		waitUntil(t, "the edited ReplicaSet is replaced", 60*time.Second, func() bool {
			out := get(t, "replicasets", ns, `{range .items[*]}{.metadata.name}={.spec.replicas}={.spec.template.spec.containers[0].image};{end}`)
			edited, replaced := false, false
			for _, item := range strings.Split(out, ";") {
				f := strings.Split(item, "=")
				if len(f) != 3 {
					continue
				}
				edited = edited || (f[0] == rs && f[1] == "0" && f[2] == "ghcr.io/acme/api:9.9.9")
				replaced = replaced || (f[0] != rs && f[1] == "1" && f[2] == "ghcr.io/acme/api:1.0.0")
			}
			if !(edited && replaced) {
				t.Logf("replicasets: %s", out)
			}
			return edited && replaced
		})
	})
}
