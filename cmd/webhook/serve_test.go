package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/driftguard/driftguard/internal/certs"
	"github.com/driftguard/driftguard/test/freeport"
)

// These tests run the built binary (`serve --dev`) on free local ports.

// slowRego denies ConfigMap creates after busy work of about a second or
// more (numbers.range builds a long array); other kinds are not matched.
const slowRego = `# METADATA
# custom:
#   kinds: [ConfigMap]
#   operations: [CREATE]
package driftguard.policies.slow
deny contains "slow policy finished" if {
	n := numbers.range(1, 4000000)
	count([x | some x in n; x < 0]) == 0
}
`

func genRego(gen int) string {
	return fmt.Sprintf("# METADATA\n# custom:\n#   kinds: [Deployment]\n#   operations: [UPDATE]\npackage driftguard.policies.gen\nwarn contains {\"msg\": \"generation %d\"} if true\n", gen)
}

type server struct {
	cmd                      *exec.Cmd
	webhook, metrics, health string
	certDir, policyDir       string
	client                   *http.Client
	stderr                   *syncBuffer
	exited                   chan struct{}
	exitErr                  error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func atomicWrite(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// startServer runs `serve --dev` with its own cert, policy and config
// files and waits until /readyz answers 200.
func startServer(t *testing.T, bin, configYAML string, policies map[string]string, extra ...string) *server {
	t.Helper()
	addrs := freeport.Addrs(t, 3)
	s := &server{
		webhook: addrs[0], metrics: addrs[1], health: addrs[2],
		certDir: t.TempDir(), policyDir: t.TempDir(), stderr: &syncBuffer{}, exited: make(chan struct{}),
	}
	if err := certs.Generate(s.certDir, []string{"localhost", "127.0.0.1"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	for name, src := range policies {
		atomicWrite(t, filepath.Join(s.policyDir, name), src)
	}
	_, port, _ := net.SplitHostPort(s.webhook)
	args := []string{"serve", "--dev", "--cert-dir", s.certDir, "--port", port,
		"--metrics-addr", s.metrics, "--health-addr", s.health,
		"--policies", s.policyDir, "--reload-interval", "200ms"}
	if configYAML != "" { // empty: the embedded default config
		cfg := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(cfg, []byte(configYAML), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", cfg)
	}
	args = append(args, extra...)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout = io.Discard
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.exitErr = s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			t.Logf("server log:\n%s", s.stderr.String())
		}
	})
	s.client = s.newClient(t, s.caPool(t, nil))
	deadline := time.Now().Add(60 * time.Second)
	for {
		if code, _ := s.get("http://" + s.health + "/readyz"); code == http.StatusOK {
			break
		}
		select {
		case <-s.exited:
			t.Fatalf("server exited: %v\n%s", s.exitErr, s.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready within 60s:\n%s", s.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

func (s *server) caPool(t *testing.T, pool *x509.CertPool) *x509.CertPool {
	t.Helper()
	if pool == nil {
		pool = x509.NewCertPool()
	}
	b, err := os.ReadFile(filepath.Join(s.certDir, certs.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	if !pool.AppendCertsFromPEM(b) {
		t.Fatal("no CA certificate")
	}
	return pool
}

// newClient makes a new TLS connection per request, so a rotated
// certificate shows at once.
func (s *server) newClient(_ *testing.T, pool *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"},
		DisableKeepAlives: true,
	}}
}

func (s *server) get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// review posts body to /validate and returns the answer and the serial of
// the certificate the server presented.
func (s *server) review(c *http.Client, body []byte) (*admissionv1.AdmissionResponse, string, error) {
	resp, err := c.Post("https://"+s.webhook+"/validate", "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", fmt.Errorf("reading answer: %w", err)
	}
	serial := ""
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		serial = resp.TLS.PeerCertificates[0].SerialNumber.String()
	}
	if resp.StatusCode != http.StatusOK {
		return nil, serial, fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	var rv admissionv1.AdmissionReview
	if err := json.Unmarshal(b, &rv); err != nil {
		return nil, serial, fmt.Errorf("answer is not an AdmissionReview: %v: %s", err, b)
	}
	if rv.APIVersion != "admission.k8s.io/v1" || rv.Kind != "AdmissionReview" || rv.Response == nil {
		return nil, serial, fmt.Errorf("not a v1 review answer: %s", b)
	}
	return rv.Response, serial, nil
}

func deploymentReview(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoDir(), "test", "fixtures", "reviews", "deployment-update-8k.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var configMapCreate = []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"slow-1",` +
	`"kind":{"group":"","version":"v1","kind":"ConfigMap"},"resource":{"group":"","version":"v1","resource":"configmaps"},` +
	`"name":"c","namespace":"tenant-a","operation":"CREATE","userInfo":{"username":"alice","groups":["devs"]},` +
	`"object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"tenant-a"},"data":{"a":"b"}}}}`)

// metricValue reads one sample line's value from /metrics.
func (s *server) metricValue(prefix string) (float64, bool) {
	resp, err := http.Get("http://" + s.metrics + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, prefix) {
			var v float64
			if _, err := fmt.Sscan(strings.TrimSpace(strings.TrimPrefix(line, prefix)), &v); err == nil {
				return v, true
			}
		}
	}
	return 0, false
}

// serveBinary builds the binary for one test (buildCLI, testcmd_test.go).
func serveBinary(t *testing.T) string {
	t.Helper()
	return buildCLI(t)
}

// shutdownScenario starts a slow review, sends SIGTERM while it is in
// flight, and returns its answer (or error), after checking that /readyz
// turned 503 during the shutdown delay and that the process exited 0.
func shutdownScenario(t *testing.T) (*admissionv1.AdmissionResponse, error, time.Duration) {
	bin := serveBinary(t)
	s := startServer(t, bin, "evalTimeout: 25s\nrequestTimeout: 29s\nfailurePolicy: deny\n", map[string]string{"slow.rego": slowRego}, "--shutdown-delay", "1s")

	type result struct {
		resp *admissionv1.AdmissionResponse
		err  error
		at   time.Time
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		r, _, err := s.review(s.client, configMapCreate)
		done <- result{r, err, time.Now()}
	}()
	// wait until the slow review is being evaluated
	deadline := time.Now().Add(30 * time.Second)
	for {
		if v, ok := s.metricValue(`driftguard_admission_in_flight_requests{webhook="validate"}`); ok && v >= 1 {
			break
		}
		select {
		case r := <-done:
			t.Fatalf("the slow review was answered before SIGTERM could be sent (%s): %+v %v; make slowRego slower", time.Since(start), r.resp, r.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow review never showed as in flight")
		}
		time.Sleep(20 * time.Millisecond)
	}
	sigAt := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// readyz turns 503 during the shutdown delay
	saw503 := false
	for time.Since(sigAt) < 900*time.Millisecond {
		if code, _ := s.get("http://" + s.health + "/readyz"); code == http.StatusServiceUnavailable {
			saw503 = true
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !saw503 {
		t.Error("/readyz did not turn 503 after SIGTERM")
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(90 * time.Second):
		t.Fatal("the in-flight review was not answered within 90s of SIGTERM")
	}
	if !r.at.After(sigAt) {
		t.Fatal("the review was answered before SIGTERM; the test proves nothing")
	}
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not exit within 30s of answering")
	}
	if s.exitErr != nil {
		t.Errorf("server exit: %v", s.exitErr)
	}
	t.Logf("slow review answered %s after SIGTERM (%s after it was sent)", r.at.Sub(sigAt), r.at.Sub(start))
	return r.resp, r.err, r.at.Sub(sigAt)
}

// (a) Graceful shutdown drains in-flight requests: a review being
// evaluated when SIGTERM arrives still gets a complete 200 answer,
// /readyz turns 503 during --shutdown-delay, and the process exits 0.
func TestServeGracefulShutdownDrainsInFlight(t *testing.T) {
	resp, err, _ := shutdownScenario(t)
	if err != nil {
		t.Fatalf("in-flight review failed: %v", err)
	}
	if string(resp.UID) != "slow-1" || resp.Result == nil || resp.Result.Message == "" {
		t.Fatalf("incomplete answer: %+v", resp)
	}
}

// The answer drained at shutdown should be the policy's own verdict, not
// an evaluation cut off by the shutdown. It is not: serve.go's webhook
// server uses srvCtx as every request's base context (controller-runtime
// httpserver.New sets BaseContext to the Start context), so srvCancel()
// cancels the in-flight evaluations, which are answered "could not
// evaluate this policy (timeout)" and denied by failurePolicy deny.
func TestServeShutdownDoesNotCutOffInFlightEvaluation(t *testing.T) {
	resp, err, _ := shutdownScenario(t)
	if err != nil {
		t.Fatalf("in-flight review failed: %v", err)
	}
	if resp.Allowed || !strings.Contains(resp.Result.Message, "[slow] slow policy finished") {
		t.Fatalf("in-flight evaluation was cut off by the shutdown: allowed=%v %q", resp.Allowed, resp.Result.Message)
	}
}

// loadLoop sends the 8 KB review continuously from n goroutines until
// stop is closed; check judges each answer.
func loadLoop(t *testing.T, s *server, c func() *http.Client, n int, stop <-chan struct{}, check func(*admissionv1.AdmissionResponse, string) error) (total *atomic.Int64, failures *[]error, wait func()) {
	body := deploymentReview(t)
	total = &atomic.Int64{}
	var mu sync.Mutex
	failures = &[]error{}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, serial, err := s.review(c(), body)
				total.Add(1)
				if err == nil {
					err = check(resp, serial)
				}
				if err != nil {
					mu.Lock()
					if len(*failures) < 20 {
						*failures = append(*failures, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	return total, failures, wg.Wait
}

// (b) Certificate rotation under load: the files in --cert-dir are
// replaced by a new CA's certificate while clients (trusting both CAs)
// send reviews continuously: no request fails and the served
// certificate's serial changes.
func TestServeCertificateRotationUnderLoad(t *testing.T) {
	bin := serveBinary(t)
	s := startServer(t, bin, "", nil)
	oldSerial := ""
	if _, serial, err := s.review(s.client, deploymentReview(t)); err != nil {
		t.Fatal(err)
	} else {
		oldSerial = serial
	}
	newDir := t.TempDir()
	if err := certs.Generate(newDir, []string{"localhost", "127.0.0.1"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	pool := s.caPool(t, nil)
	b, _ := os.ReadFile(filepath.Join(newDir, certs.CAFile))
	pool.AppendCertsFromPEM(b)
	client := s.newClient(t, pool)

	var newSerial atomic.Value
	stop := make(chan struct{})
	total, failures, wait := loadLoop(t, s, func() *http.Client { return client }, 4, stop, func(r *admissionv1.AdmissionResponse, serial string) error {
		if r.Allowed || !strings.Contains(r.Result.Message, "[owned_fields]") {
			return fmt.Errorf("incorrect answer: %+v", r.Result)
		}
		if serial != oldSerial {
			newSerial.Store(serial)
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond)
	// key first, then the certificate (as internal/certs does)
	for _, f := range []string{certs.KeyFile, certs.CertFile, certs.CAFile} {
		if err := os.Rename(filepath.Join(newDir, f), filepath.Join(s.certDir, f)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for newSerial.Load() == nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wait()
	for _, err := range *failures {
		t.Error(err)
	}
	if newSerial.Load() == nil {
		t.Fatalf("the served certificate did not change within 30s (%d requests)", total.Load())
	}
	t.Logf("%d requests, serial %s -> %s", total.Load(), oldSerial, newSerial.Load())
}

// (c) Policy hot reload under load through the binary: a policy file in
// --policies is replaced 3 times while clients send reviews; every
// answer is correct and each new version is served.
func TestServePolicyHotReloadUnderLoad(t *testing.T) {
	bin := serveBinary(t)
	s := startServer(t, bin, "", map[string]string{"gen.rego": genRego(0)})
	var seen sync.Map
	stop := make(chan struct{})
	total, failures, wait := loadLoop(t, s, func() *http.Client { return s.client }, 4, stop, func(r *admissionv1.AdmissionResponse, _ string) error {
		if r.Allowed || !strings.Contains(r.Result.Message, "[owned_fields]") {
			return fmt.Errorf("incorrect answer: %+v", r.Result)
		}
		for _, w := range r.Warnings {
			if strings.HasPrefix(w, "[gen] generation ") {
				seen.Store(w, true)
			}
		}
		return nil
	})
	for gen := 1; gen <= 3; gen++ {
		atomicWrite(t, filepath.Join(s.policyDir, "gen.rego"), genRego(gen))
		want := fmt.Sprintf("[gen] generation %d", gen)
		deadline := time.Now().Add(60 * time.Second)
		for {
			if _, ok := seen.Load(want); ok {
				break
			}
			if time.Now().After(deadline) {
				close(stop)
				wait()
				t.Fatalf("generation %d not served within 60s", gen)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	close(stop)
	wait()
	for _, err := range *failures {
		t.Error(err)
	}
	if v, ok := s.metricValue("driftguard_policy_load_errors_total"); ok && v != 0 {
		t.Errorf("%v policy load errors", v)
	}
	t.Logf("%d requests during 3 reloads", total.Load())
}
