//go:build e2e

package e2e

// TestMain stands up the whole system once for the suite: a real
// kube-apiserver and etcd (envtest, binaries from KUBEBUILDER_ASSETS), the
// real driftguard binary built from ./cmd/webhook and serving over TLS,
// and Validating/Mutating webhook configurations pointing the API server
// at it. The scenarios then drive the real kubectl against it.
//
//	KUBEBUILDER_ASSETS=$(hack/e2e-assets.sh | tail -n1) go test -tags e2e -count=1 ./test/e2e/...
//
// DRIFTGUARD_E2E_POLICIES=<dir> runs driftguard with
// --no-bundled-policies and a copy of <dir> as its policy directory,
// so a broken policy set can be shown to fail the suite.

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/driftguard/driftguard/internal/certs"
	"github.com/driftguard/driftguard/internal/config"
)

// suite is the shared state of the end-to-end run.
type suite struct {
	repoRoot    string
	tmp         string
	env         *envtest.Environment
	kubeconfig  string // admin (system:masters) kubeconfig for kubectl
	kubectlPath string
	certDir     string
	caPEM       []byte
	configFile  string
	policyDir   string // the hot-reloaded --policies directory
	bundled     bool   // bundled policies in use (no DRIFTGUARD_E2E_POLICIES)
	binary      string
	webhookPort int
	metricsAddr string
	healthAddr  string
	logFile     string
	proc        *exec.Cmd
	procDone    chan struct{} // closed when driftguard has exited
	procErr     error         // its exit error, once procDone is closed
}

var s *suite

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) (code int) {
	// envtest logs through controller-runtime; keep its "SetLogger was never called" stack out of the output
	ctrllog.SetLogger(logr.Discard())
	s = &suite{}
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "e2e: setup panicked: %v\n", r)
			code = 1
		}
		s.teardown(code != 0)
	}()
	if err := s.setup(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: SETUP FAILED: %v\n", err)
		return 1
	}
	code = m.Run()
	return code
}

func (s *suite) setup() error {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return errors.New("KUBEBUILDER_ASSETS is not set; run:\n\tKUBEBUILDER_ASSETS=$(hack/e2e-assets.sh | tail -n1) go test -tags e2e -count=1 ./test/e2e/...")
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			return fmt.Errorf("missing %s in KUBEBUILDER_ASSETS=%s (run hack/e2e-assets.sh): %w", bin, assets, err)
		}
	}
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		return fmt.Errorf("kubectl not found in PATH: %w", err)
	}
	s.kubectlPath = kubectl

	_, file, _, _ := runtime.Caller(0)
	s.repoRoot = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	if _, err := os.Stat(filepath.Join(s.repoRoot, "go.mod")); err != nil {
		return fmt.Errorf("repository root %s has no go.mod: %w", s.repoRoot, err)
	}
	if s.tmp, err = os.MkdirTemp("", "driftguard-e2e-"); err != nil {
		return err
	}

	// 1. the real binary
	s.binary = filepath.Join(s.tmp, "driftguard")
	start := time.Now()
	build := exec.Command("go", "build", "-o", s.binary, "./cmd/webhook")
	build.Dir = s.repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/webhook: %v\n%s", err, out)
	}
	logf("built driftguard in %s", time.Since(start).Round(time.Millisecond))

	// 2. the control plane with a minimal ExternalSecret CRD
	start = time.Now()
	s.env = &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
		CRDs:                     []*apiextensionsv1.CustomResourceDefinition{externalSecretCRD()},
		// the OpenReports Report and ClusterReport the audit writes (the chart's copy)
		CRDDirectoryPaths:     []string{filepath.Join(s.repoRoot, "charts", "driftguard", "files", "crds")},
		ErrorIfCRDPathMissing: true,
	}
	if _, err := s.env.Start(); err != nil {
		return fmt.Errorf("starting envtest control plane: %w", err)
	}
	logf("control plane up in %s", time.Since(start).Round(time.Millisecond))

	admin, err := s.env.AddUser(envtest.User{Name: "e2e-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("adding admin user: %w", err)
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		return fmt.Errorf("admin kubeconfig: %w", err)
	}
	s.kubeconfig = filepath.Join(s.tmp, "admin.kubeconfig")
	if err := os.WriteFile(s.kubeconfig, kc, 0o600); err != nil {
		return err
	}
	// RBAC must never be what answers: everyone the scenarios act as is cluster-admin.
	if r := s.kubectlIn(rbacYAML, "apply", "-f", "-"); r.code != 0 {
		return fmt.Errorf("creating ClusterRoleBindings: %s", r)
	}

	// 3. serving certificate, config, policies
	s.certDir = filepath.Join(s.tmp, "certs")
	if err := certs.Generate(s.certDir, []string{"localhost", "127.0.0.1"}, 24*time.Hour); err != nil {
		return fmt.Errorf("generating certificates: %w", err)
	}
	if s.caPEM, err = os.ReadFile(filepath.Join(s.certDir, certs.CAFile)); err != nil {
		return err
	}
	s.configFile = filepath.Join(s.tmp, "config.yaml")
	if err := writeFileAtomic(s.configFile, config.DefaultYAML()); err != nil {
		return err
	}
	s.policyDir = filepath.Join(s.tmp, "policies")
	args := []string{"serve", "--cert-dir", s.certDir, "--host", "127.0.0.1"}
	if src := os.Getenv("DRIFTGUARD_E2E_POLICIES"); src != "" {
		// a copy, so docs/scenarios.md S17 never writes into the caller's directory
		if err := copyRego(src, s.policyDir); err != nil {
			return fmt.Errorf("copying DRIFTGUARD_E2E_POLICIES=%s: %w", src, err)
		}
		args = append(args, "--no-bundled-policies")
		logf("policies: %s (copied to %s), bundled policies off", src, s.policyDir)
	} else {
		if err := os.MkdirAll(s.policyDir, 0o755); err != nil {
			return err
		}
		s.bundled = true
	}

	// 4. start driftguard
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	s.webhookPort = ports[0]
	s.metricsAddr = fmt.Sprintf("127.0.0.1:%d", ports[1])
	s.healthAddr = fmt.Sprintf("127.0.0.1:%d", ports[2])
	args = append(args,
		"--port", strconv.Itoa(s.webhookPort),
		"--metrics-addr", s.metricsAddr,
		"--health-addr", s.healthAddr,
		"--config", s.configFile,
		"--policies", s.policyDir,
		"--reload-interval", "500ms",
		"--cluster",
		// the suite scrapes /metrics over plain HTTP; TestMetricsSecure
		// runs an instance with the default (HTTPS, authenticated)
		"--metrics-secure=false",
		"--audit-interval", "2s",
		"--leader-elect", "--leader-election-namespace", "default",
		// the decision trail's lines are read as JSON (trail_test.go)
		"--log-format", "json",
	)
	s.logFile = filepath.Join(s.tmp, "driftguard.log")
	lf, err := os.Create(s.logFile)
	if err != nil {
		return err
	}
	s.proc = exec.Command(s.binary, args...)
	s.proc.Stdout, s.proc.Stderr = lf, lf
	s.proc.Env = append(os.Environ(), "KUBECONFIG="+s.kubeconfig)
	if err := s.proc.Start(); err != nil {
		lf.Close()
		return fmt.Errorf("starting driftguard: %w", err)
	}
	s.procDone = make(chan struct{})
	go func() { s.procErr = s.proc.Wait(); lf.Close(); close(s.procDone) }()
	logf("driftguard %s (log %s)", strings.Join(args, " "), s.logFile)
	if err := s.waitReady(30 * time.Second); err != nil {
		return err
	}

	// 5. register the webhooks and wait until the API server calls them
	if r := s.kubectlIn(s.webhookConfigYAML(), "apply", "-f", "-"); r.code != 0 {
		return fmt.Errorf("registering webhook configurations: %s", r)
	}
	if err := s.waitWebhookLive(30 * time.Second); err != nil {
		return err
	}
	logf("webhooks live at https://127.0.0.1:%d (metrics %s)", s.webhookPort, s.metricsAddr)
	return nil
}

func (s *suite) teardown(failed bool) {
	if failed {
		s.dumpLog(os.Stderr, 60)
	}
	// Unregister first, so the API server is never blocked by a stopped webhook.
	if s.kubeconfig != "" && s.env != nil {
		_ = s.kubectl("delete", "validatingwebhookconfiguration,mutatingwebhookconfiguration",
			"-l", "app.kubernetes.io/name=driftguard-e2e", "--ignore-not-found", "--wait=false")
	}
	if s.proc != nil && s.proc.Process != nil {
		select {
		case <-s.procDone:
			fmt.Fprintf(os.Stderr, "e2e: driftguard had already exited: %v\n", s.procErr)
		default:
			_ = s.proc.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.procDone:
				if s.procErr != nil {
					fmt.Fprintf(os.Stderr, "e2e: driftguard exited after SIGTERM: %v\n", s.procErr)
				}
			case <-time.After(20 * time.Second):
				fmt.Fprintln(os.Stderr, "e2e: driftguard did not stop within 20s of SIGTERM; killing it")
				_ = s.proc.Process.Kill()
				<-s.procDone
			}
		}
	}
	if s.env != nil {
		if err := s.env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: stopping control plane: %v\n", err)
		}
	}
	if s.tmp != "" {
		if failed {
			fmt.Fprintf(os.Stderr, "e2e: kept %s for inspection\n", s.tmp)
		} else {
			_ = os.RemoveAll(s.tmp)
		}
	}
}

func (s *suite) dumpLog(w io.Writer, lines int) {
	if s.logFile == "" {
		return
	}
	b, err := os.ReadFile(s.logFile)
	if err != nil {
		return
	}
	fmt.Fprintf(w, "----- last %d lines of driftguard log (%s) -----\n%s\n----- end of driftguard log -----\n",
		lines, s.logFile, tail(string(b), lines))
}

func tail(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

func (s *suite) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-s.procDone:
			return fmt.Errorf("driftguard exited before it was ready: %v", s.procErr)
		default:
		}
		resp, err := http.Get("http://" + s.healthAddr + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("HTTP %d %s", resp.StatusCode, b)
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("driftguard /readyz not ok within %s: %s", timeout, last)
}

// waitWebhookLive sends server-side dry-run creates until driftguard has
// counted one: the API server has loaded the webhook configurations and
// reaches driftguard over TLS with the CA bundle.
func (s *suite) waitWebhookLive(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		before, err := s.metricSum("driftguard_admission_requests_total", map[string]string{"webhook": "validate", "kind": "ConfigMap", "dry_run": "true"})
		if err != nil {
			return err
		}
		r := s.kubectl("create", "configmap", "e2e-probe", "-n", "default", "--dry-run=server", "-o", "name")
		last = r.String()
		after, err := s.metricSum("driftguard_admission_requests_total", map[string]string{"webhook": "validate", "kind": "ConfigMap", "dry_run": "true"})
		if err != nil {
			return err
		}
		if r.code == 0 && after > before {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("the API server did not call driftguard within %s; last probe: %s", timeout, last)
}

func externalSecretCRD() *apiextensionsv1.CustomResourceDefinition {
	preserve := true
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "externalsecrets.external-secrets.io"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "external-secrets.io",
			Names: apiextensionsv1.CustomResourceDefinitionNames{
				Kind: "ExternalSecret", ListKind: "ExternalSecretList", Plural: "externalsecrets", Singular: "externalsecret",
			},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: &preserve,
				}},
			}},
		},
	}
}

const rbacYAML = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: e2e-cluster-admins}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {kind: Group, apiGroup: rbac.authorization.k8s.io, name: devs}
- {kind: User, apiGroup: rbac.authorization.k8s.io, name: alice}
- {kind: ServiceAccount, name: terraform, namespace: infra}
- {kind: ServiceAccount, name: external-secrets, namespace: external-secrets}
- {kind: ServiceAccount, name: profile-controller, namespace: kubeflow}
- {kind: User, apiGroup: rbac.authorization.k8s.io, name: system:kube-controller-manager}
`

func (s *suite) webhookConfigYAML() string {
	ca := b64(s.caPEM)
	hook := func(name, path string) string {
		return fmt.Sprintf(`
- name: %s
  clientConfig:
    url: https://127.0.0.1:%d%s
    caBundle: %s
  admissionReviewVersions: [v1]
  sideEffects: NoneOnDryRun
  timeoutSeconds: 5
  failurePolicy: Fail
  matchPolicy: Equivalent
  rules:
  - apiGroups: ["*"]
    apiVersions: ["*"]
    resources: ["*"]
    operations: [CREATE, UPDATE, DELETE]
    scope: "*"
  # kubectl scale: the scale subresource (as the Helm chart's webhook.rules)
  - apiGroups: [apps]
    apiVersions: [v1]
    resources: [deployments/scale, statefulsets/scale, replicasets/scale]
    operations: [UPDATE]
    scope: "*"
  matchConditions:
  # driftguard's own leader-election Lease renewals and events are noise
  # (the Helm chart skips them the same way)
  - name: skip-leases-and-events
    expression: "!(request.resource.group == 'coordination.k8s.io' && request.resource.resource == 'leases') && request.resource.resource != 'events'"
  namespaceSelector:
    matchExpressions:
    - {key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system]}
    - {key: driftguard.io/ignore, operator: NotIn, values: ["true"]}
  objectSelector:
    matchExpressions:
    - {key: driftguard.io/ignore, operator: NotIn, values: ["true"]}
`, name, s.webhookPort, path, ca)
	}
	// The configurations carry driftguard.io/ignore=true so the objectSelector
	// excludes them (the API server never sends them to webhooks anyway).
	meta := `  labels: {app.kubernetes.io/name: driftguard-e2e, driftguard.io/ignore: "true"}`
	return "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata:\n  name: driftguard-e2e\n" + meta + "\nwebhooks:" + hook("validate.driftguard.io", "/validate") +
		"---\napiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\nmetadata:\n  name: driftguard-e2e\n" + meta + "\nwebhooks:" + hook("mutate.driftguard.io", "/mutate")
}

// httpsClient trusts the suite's CA, for direct requests to the webhook.
func (s *suite) httpsClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.caPEM)
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// copyRego copies the .rego files of src (recursively, tests included:
// the loader skips *_test.rego itself) into dst.
func copyRego(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !strings.HasSuffix(p, ".rego") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
}

// writeFileAtomic replaces path in one rename, so the reloader never
// reads half a file.
func writeFileAtomic(path string, b []byte) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "e2e: "+format+"\n", args...)
}
