//go:build e2e

package e2e

// The real External Secrets Operator (v0.16.2, built from the Go module
// proxy by hack/e2e-assets.sh; tools/eso says why not a newer one) with
// its fake provider, against the suite's API server: the Secret it writes
// carries the manager name driftguard's default config declares for it
// (owners: external-secrets, managers: [external-secrets]), a person's
// edit of that Secret is denied naming the ExternalSecret, and a
// break-glass edit is set back by the operator at its next refresh.

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/driftguard/driftguard/internal/config"
)

const esoNS = "eso-a"

// esoCRDs applies External Secrets Operator's CRDs from its pinned module
// (replacing the suite's minimal ExternalSecret CRD, which has no schema).
func esoCRDs(t *testing.T) {
	t.Helper()
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/external-secrets/external-secrets")
	cmd.Dir = filepath.Join(s.repoRoot, "tools", "eso")
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("finding the pinned External Secrets Operator module: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "config", "crds", "bases")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in %s: %v", dir, err)
	}
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		mustSucceed(t, s.kubectl("apply", "--server-side", "--force-conflicts", "-f", f))
	}
	for _, crd := range []string{"externalsecrets.external-secrets.io", "secretstores.external-secrets.io"} {
		mustSucceed(t, s.kubectl("wait", "--for=condition=Established", "crd/"+crd, "--timeout=30s"))
	}
}

// startESO runs the operator as its service account until the test ends.
func startESO(t *testing.T) {
	t.Helper()
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	startComponent(t, "external-secrets", "system:serviceaccount:external-secrets:external-secrets",
		"--metrics-addr", "127.0.0.1:"+strconv.Itoa(ports[0]), "--namespace", esoNS)
}

func TestExternalSecretsOperator(t *testing.T) {
	if !s.bundled {
		t.Skip("needs the bundled policies")
	}
	esoCRDs(t)
	mustSucceed(t, s.kubectl("create", "namespace", esoNS))
	mustSucceed(t, s.kubectlIn(`apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: fake, namespace: eso-a}
spec:
  provider:
    fake:
      data:
      - {key: /eso-a/api/db, value: "postgres://api@db.internal:5432/api"}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: api-db, namespace: eso-a}
spec:
  refreshInterval: 1s
  secretStoreRef: {kind: SecretStore, name: fake}
  target: {name: api-db}
  data:
  - secretKey: DATABASE_URL
    remoteRef: {key: /eso-a/api/db}
`, "apply", "-f", "-"))
	startESO(t)
	want := base64.StdEncoding.EncodeToString([]byte("postgres://api@db.internal:5432/api"))
	dataOf := func() string { return get(t, "secret/api-db", esoNS, "{.data.DATABASE_URL}") }
	waitUntil(t, "the operator writes the Secret", 60*time.Second, func() bool {
		return s.kubectl("get", "secret/api-db", "-n", esoNS).code == 0 && dataOf() == want
	})

	t.Run("the operator writes as the manager the default config declares", func(t *testing.T) {
		mgrs := get(t, "secret/api-db", esoNS, "{.metadata.managedFields[*].manager}")
		owner := config.Default().OwnerByName("external-secrets")
		if owner == nil {
			t.Fatal("the default config has no external-secrets owner")
		}
		matched := false
		for _, m := range strings.Fields(mgrs) {
			for _, pattern := range owner.Managers {
				matched = matched || config.ManagerMatches(pattern, m)
			}
		}
		if !matched {
			t.Fatalf("managers of the operator's Secret: %q; none matches the default config's external-secrets managers %v", mgrs, owner.Managers)
		}
		ctrl := get(t, "secret/api-db", esoNS, "{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}")
		if ctrl != "ExternalSecret/api-db" {
			t.Fatalf("controlling owner %q", ctrl)
		}
	})

	t.Run("a person's edit of the Secret is denied, naming the ExternalSecret", func(t *testing.T) {
		other := base64.StdEncoding.EncodeToString([]byte("postgres://api@db-old.internal:5432/api"))
		r := k(asAlice, "patch", "secret", "api-db", "-n", esoNS, "-p", `{"data":{"DATABASE_URL":"`+other+`"}}`)
		expectDenied(t, r, "api-db")
		if strings.Contains(r.stderr, other) || strings.Contains(r.stderr, want) {
			t.Fatalf("the denial shows a Secret value:\n%s", r)
		}
	})

	t.Run("a break-glass edit is set back by the operator at its next refresh", func(t *testing.T) {
		other := base64.StdEncoding.EncodeToString([]byte("postgres://api@db-failover.internal:5432/api"))
		r := k(asBreakGlass, "patch", "secret", "api-db", "-n", esoNS, "-p",
			`{"metadata":{"annotations":{"driftguard.io/break-glass":"INC-42"}},"data":{"DATABASE_URL":"`+other+`"}}`)
		expectAllowed(t, r)
		waitUntil(t, "the operator sets the value back", 30*time.Second, func() bool { return dataOf() == want })
	})
}
