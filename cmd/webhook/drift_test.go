package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An unreachable API server is an error (exit 2), not "no drift" (0).
func TestDriftUnreachableClusterExits2(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u, namespace: team-a}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{}, {"--live"}, {"-A", "-o", "json"}} {
		var out, errb bytes.Buffer
		code := driftMain(append(args, "--kubeconfig", kc, "--timeout", "20s"), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), "cannot reach the API server at https://127.0.0.1:1") || out.Len() != 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out.String(), errb.String())
		}
	}
}

const twoContexts = `apiVersion: v1
kind: Config
clusters:
- {name: one, cluster: {server: "https://127.0.0.1:1"}}
- {name: two, cluster: {server: "https://127.0.0.1:2"}}
users: [{name: u, user: {token: x}}]
contexts:
- {name: one, context: {cluster: one, user: u, namespace: team-a}}
- {name: two, context: {cluster: two, user: u, namespace: team-b}}
current-context: one
`

// --context picks the cluster and the default namespace, like kubectl's.
func TestDriftContext(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte(twoContexts), 0o600); err != nil {
		t.Fatal(err)
	}
	if ns := kubeconfigNamespace(kc, ""); ns != "team-a" {
		t.Errorf("current context's namespace %q", ns)
	}
	if ns := kubeconfigNamespace(kc, "two"); ns != "team-b" {
		t.Errorf("context two's namespace %q", ns)
	}
	ctxArgs := []string{"--kubeconfig", kc, "--context", "two", "--timeout", "20s"}
	for name, run := range map[string]func() (int, string){
		"drift": func() (int, string) {
			var out, errb bytes.Buffer
			return driftMain(ctxArgs, &out, &errb), errb.String()
		},
		"explain": func() (int, string) {
			var out, errb bytes.Buffer
			return explainMain(append([]string{"deploy/api"}, ctxArgs...), &out, &errb), errb.String()
		},
	} {
		if code, stderr := run(); code == 0 || !strings.Contains(stderr, "https://127.0.0.1:2") {
			t.Errorf("%s --context two: exit %d, stderr %q", name, code, stderr)
		}
	}
}

func TestDriftBadFlagsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"-o", "xml"},
		{"-A", "-n", "x"},
		{"deploy/api"},
		{"--policies", "p"}, // needs --live
		{"--bogus"},
	} {
		var out, errb bytes.Buffer
		if code := driftMain(args, &out, &errb); code != 2 || errb.Len() == 0 {
			t.Errorf("%v: exit %d, stderr %q", args, code, errb.String())
		}
	}
}

func TestDriftHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := driftMain([]string{"-h"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"usage: driftguard drift", "--live", "-A", "Exit status: 0 no drift, 1 drift found, 2 error", "prove restart safety", "-context", "-kubeconfig"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, errb.String())
		}
	}
}

func TestPluginName(t *testing.T) {
	for name, want := range map[string]bool{
		"/usr/local/bin/kubectl-driftguard": true, "kubectl-driftguard": true,
		"kubectl-driftguard.exe": true, "driftguard": false, "/bin/kubectl-driftguard-old": false,
	} {
		if got := isPlugin(name); got != want {
			t.Errorf("isPlugin(%q) = %v, want %v", name, got, want)
		}
	}
}

// As kubectl-driftguard the binary never serves: no command is a usage
// error, and help lists the plugin's commands under kubectl's name.
func TestPluginCommands(t *testing.T) {
	var code int
	out := captureStdout(t, func() { code = runPlugin([]string{"--help"}) })
	if code != 0 || !strings.Contains(out, "usage: kubectl driftguard <command>") || !strings.Contains(out, "  drift ") ||
		!strings.Contains(out, "  explain ") || strings.Contains(out, "  serve ") {
		t.Errorf("plugin help (exit %d):\n%s", code, out)
	}
	for _, args := range [][]string{{}, {"--port", "9443"}, {"serve"}} {
		if code := runPlugin(args); code != 2 {
			t.Errorf("kubectl driftguard %v exited %d, want 2", args, code)
		}
	}
	if progName != "driftguard" {
		t.Errorf("progName left at %q", progName)
	}
}
