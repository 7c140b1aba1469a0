//go:build e2e

package e2e

// TestCertRotation runs a second driftguard with self-managed certificates
// (--cert-rotation: open-policy-agent/cert-controller keeps a CA and a
// serving certificate in a Secret; driftguard's CA bundle keeper injects
// the CA into the webhook configurations, keeping the previous CA for
// --ca-overlap after a CA rotation) against the suite's real API server,
// with the test standing in for the kubelet that would mount that Secret
// at --cert-dir.
//
// What it shows:
//   - bootstrap: from the empty Secret the chart renders, the instance
//     fills it, injects its CA into both configurations (which were applied
//     without a caBundle), waits for the files and only then serves; the API
//     server reaches it over TLS and its owned_fields denial is counted on
//     its own /metrics (the main instance never sees namespace rot-a);
//   - CA rotation (Secret data removed): a new CA and certificate, the
//     caBundles hold the new CA and the old one, the served certificate
//     reloaded by driftguard's certificate watcher once the new CA is
//     trusted, denials still answered by the instance; no server-side
//     dry-run sent through the rotation fails, and in no sample does the
//     served certificate fail to verify against the configured caBundles;
//     when the overlap ends the caBundles hold the new CA alone;
//   - serving-certificate rotation (tls.crt/tls.key removed, CA kept): the
//     routine renewal; the caBundle must not change and no request may fail.
//
// TestCertRotationMissingSecret: a rotator that cannot start must end the
// process rather than leave it running and never ready.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/driftguard/driftguard/internal/config"
)

const (
	rotNS        = "rot-a"
	rotSystemNS  = "driftguard-system"
	rotSecret    = "driftguard-rot-cert"
	rotConfig    = "driftguard-rot" // both webhook configurations
	rotValidate  = "validate.rot.driftguard.io"
	rotMutate    = "mutate.rot.driftguard.io"
	rotDNSName   = "localhost"
	rotImg1      = "ghcr.io/acme/api:1.0.0"
	rotImg2      = "ghcr.io/acme/api:1.1.0"
	rotImagePath = "spec.template.spec.containers[api].image"
	// the data keys cert-controller v0.16 writes (rotator.go: caCertName,
	// caKeyName, defaultCertName, defaultKeyName)
	rotCAKey   = "ca.crt"
	rotCertKey = "tls.crt"
	rotKeyKey  = "tls.key"
	// how long the previous CA stays in the caBundles (--ca-overlap)
	rotOverlap = 6 * time.Second
)

// rotInstance is the second driftguard process.
type rotInstance struct {
	port        int
	metricsAddr string
	healthAddr  string
	certDir     string
	logFile     string
	cmd         *exec.Cmd
	done        chan struct{}
	err         error    // exit error, once done is closed
	extraArgs   []string // appended to serve's arguments
}

func (ri *rotInstance) metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	// metricSum only reads the metrics address
	v, err := (&suite{metricsAddr: ri.metricsAddr}).metricSum(name, labels)
	if err != nil {
		t.Fatalf("second instance metric %s: %v", name, err)
	}
	return v
}

func (ri *rotInstance) decisions(t *testing.T, dryRun string) float64 {
	t.Helper()
	return ri.metric(t, "driftguard_admission_decisions_total",
		map[string]string{"policy": "owned_fields", "decision": "deny", "dry_run": dryRun})
}

func (ri *rotInstance) logTail(n int) string {
	b, err := os.ReadFile(ri.logFile)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	// zap's errorVerbose and stacktrace fields make lines of kilobytes
	ls := strings.Split(tail(string(b), n), "\n")
	for i, l := range ls {
		if len(l) > 400 {
			ls[i] = l[:400] + "…"
		}
	}
	return strings.Join(ls, "\n")
}

func (ri *rotInstance) exited() bool {
	select {
	case <-ri.done:
		return true
	default:
		return false
	}
}

func (ri *rotInstance) stop(t *testing.T) {
	if ri.cmd == nil || ri.cmd.Process == nil {
		return
	}
	if ri.exited() {
		t.Logf("second driftguard had already exited: %v", ri.err)
		return
	}
	_ = ri.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-ri.done:
	case <-time.After(20 * time.Second):
		t.Errorf("second driftguard did not stop within 20s of SIGTERM; killing it")
		_ = ri.cmd.Process.Kill()
		<-ri.done
	}
}

func (ri *rotInstance) waitReady(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		if ri.exited() {
			t.Fatalf("second driftguard exited before it was ready: %v", ri.err)
		}
		resp, err := http.Get("http://" + ri.healthAddr + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("HTTP %d %s", resp.StatusCode, strings.TrimSpace(string(b)))
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("second driftguard /readyz not ok within %s: %s", timeout, last)
}

func (ri *rotInstance) ports(t *testing.T) {
	t.Helper()
	ports, err := freePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	ri.port = ports[0]
	ri.metricsAddr = fmt.Sprintf("127.0.0.1:%d", ports[1])
	ri.healthAddr = fmt.Sprintf("127.0.0.1:%d", ports[2])
}

// start runs driftguard serve with self-managed certificates in the
// Secret secret (namespace/name), injected into configs
// (<validating>,<mutating>), its cert dir and log under the suite's
// temporary directory (kept when the suite fails).
func (ri *rotInstance) start(t *testing.T, secret, configs string) {
	t.Helper()
	if ri.port == 0 {
		ri.ports(t)
	}
	base := filepath.Join(s.tmp, "rot-"+strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	ri.certDir = filepath.Join(base, "certs")
	if err := os.MkdirAll(ri.certDir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(base, "config.yaml")
	if err := writeFileAtomic(cfgFile, config.DefaultYAML()); err != nil {
		t.Fatal(err)
	}
	args := []string{"serve", "--cluster", "--cert-rotation",
		"--cert-secret", secret,
		"--cert-dns-name", rotDNSName,
		"--webhook-config-names", configs,
		"--ca-overlap", rotOverlap.String(),
		"--cert-dir", ri.certDir,
		"--host", "127.0.0.1", "--port", strconv.Itoa(ri.port),
		"--metrics-addr", ri.metricsAddr, "--health-addr", ri.healthAddr,
		"--audit=false", "--config", cfgFile,
		"--metrics-secure=false", // metric() scrapes over plain HTTP
	}
	args = append(args, ri.extraArgs...)
	ri.logFile = filepath.Join(base, "driftguard.log")
	lf, err := os.Create(ri.logFile)
	if err != nil {
		t.Fatal(err)
	}
	ri.cmd = exec.Command(s.binary, args...)
	ri.cmd.Stdout, ri.cmd.Stderr = lf, lf
	ri.cmd.Env = append(os.Environ(), "KUBECONFIG="+s.kubeconfig)
	if err := ri.cmd.Start(); err != nil {
		lf.Close()
		t.Fatalf("starting the second driftguard: %v", err)
	}
	ri.done = make(chan struct{})
	go func() { ri.err = ri.cmd.Wait(); lf.Close(); close(ri.done) }()
	t.Logf("second driftguard: %s %s (log %s)", s.binary, strings.Join(args, " "), ri.logFile)
}

func (ri *rotInstance) get(path string) string {
	resp, err := http.Get("http://" + ri.healthAddr + path)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("HTTP %d %s", resp.StatusCode, strings.TrimSpace(string(b)))
}

// ---- the simulated kubelet ----

type rotProjection struct {
	at     time.Time
	rv     string
	served string // fingerprint of the projected tls.crt
}

// rotKubelet projects the Secret into the cert dir the way the kubelet's
// AtomicWriter does: the data keys go into a fresh timestamped directory,
// the ..data symlink is swapped to it with a rename, the user-visible
// names (tls.crt -> ..data/tls.crt) stay, the old directory is removed.
// All files therefore change at once. A Secret without tls.crt/tls.key
// (the instant between the Secret being emptied and the rotator refilling
// it) is not projected: a real kubelet, syncing every minute or so, all
// but never observes that window; projecting it would delete the files.
type rotKubelet struct {
	cs     kubernetes.Interface
	dir    string
	secret string // in rotSystemNS ("": rotSecret)
	mu     sync.Mutex
	lastRV string
	log    []rotProjection
	errs   []string
}

func (kl *rotKubelet) run(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		kl.sync(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (kl *rotKubelet) sync(ctx context.Context) {
	name := kl.secret
	if name == "" {
		name = rotSecret
	}
	sec, err := kl.cs.CoreV1().Secrets(rotSystemNS).Get(ctx, name, metav1.GetOptions{})
	kl.mu.Lock()
	defer kl.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			kl.errs = append(kl.errs, err.Error())
		}
		return
	}
	if sec.ResourceVersion == kl.lastRV {
		return
	}
	kl.lastRV = sec.ResourceVersion
	if len(sec.Data[rotCertKey]) == 0 || len(sec.Data[rotKeyKey]) == 0 {
		return
	}
	if err := rotProject(kl.dir, sec.Data); err != nil {
		kl.errs = append(kl.errs, "projecting: "+err.Error())
		kl.lastRV = "" // retry
		return
	}
	kl.log = append(kl.log, rotProjection{at: time.Now(), rv: sec.ResourceVersion, served: rotPemFingerprint(sec.Data[rotCertKey])})
}

func (kl *rotKubelet) projections() []rotProjection {
	kl.mu.Lock()
	defer kl.mu.Unlock()
	return append([]rotProjection(nil), kl.log...)
}

func (kl *rotKubelet) errors() []string {
	kl.mu.Lock()
	defer kl.mu.Unlock()
	return append([]string(nil), kl.errs...)
}

func rotProject(dir string, data map[string][]byte) error {
	ts, err := os.MkdirTemp(dir, ".."+time.Now().Format("2006_01_02_15_04_05."))
	if err != nil {
		return err
	}
	for k, v := range data {
		if err := os.WriteFile(filepath.Join(ts, k), v, 0o600); err != nil {
			return err
		}
	}
	dataLink := filepath.Join(dir, "..data")
	old, _ := os.Readlink(dataLink)
	tmpLink := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(ts), tmpLink); err != nil {
		return err
	}
	if err := os.Rename(tmpLink, dataLink); err != nil {
		return err
	}
	for k := range data {
		link := filepath.Join(dir, k)
		if _, err := os.Lstat(link); errors.Is(err, os.ErrNotExist) {
			if err := os.Symlink(filepath.Join("..data", k), link); err != nil {
				return err
			}
		}
	}
	if old != "" {
		return os.RemoveAll(filepath.Join(dir, old))
	}
	return nil
}

// ---- certificates ----

func rotFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:6])
}

// pemFingerprint is the fingerprint of the first certificate of a PEM bundle.
func rotPemFingerprint(p []byte) string {
	blk, _ := pem.Decode(p)
	if blk == nil {
		return "(no PEM)"
	}
	return rotFingerprint(blk.Bytes)
}

// rotBundleFingerprints lists the fingerprints of every certificate of a PEM bundle.
func rotBundleFingerprints(p []byte) string {
	var fps []string
	for {
		var blk *pem.Block
		blk, p = pem.Decode(p)
		if blk == nil {
			return strings.Join(fps, ",")
		}
		fps = append(fps, rotFingerprint(blk.Bytes))
	}
}

func rotParsePEMCert(p []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(p)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	return x509.ParseCertificate(blk.Bytes)
}

// servedCert is the leaf certificate the instance presents right now.
func rotServedCert(port int) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 2 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		&tls.Config{InsecureSkipVerify: true, ServerName: rotDNSName, NextProtos: []string{"http/1.1"}}) //nolint:gosec // we verify below, against a bundle of our choosing
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	pcs := conn.ConnectionState().PeerCertificates
	if len(pcs) == 0 {
		return nil, errors.New("no peer certificate")
	}
	return pcs[0], nil
}

// verifyAgainst verifies leaf for rotDNSName against the CA bundle caPEM,
// the way the API server does against a webhook's caBundle.
func rotVerifyAgainst(leaf *x509.Certificate, caPEM []byte) error {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return errors.New("no certificate in the CA bundle")
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: rotDNSName})
	return err
}

// ---- cluster reads ----

func rotClient(t *testing.T) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig)
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	return cs
}

func rotSecretData(t *testing.T, cs kubernetes.Interface) map[string][]byte {
	t.Helper()
	sec, err := cs.CoreV1().Secrets(rotSystemNS).Get(context.Background(), rotSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading Secret %s/%s: %v", rotSystemNS, rotSecret, err)
	}
	return sec.Data
}

// caBundles returns the caBundle of the validating and the mutating configuration.
func rotCaBundles(ctx context.Context, cs kubernetes.Interface) (v, m []byte, err error) {
	vc, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, rotConfig, metav1.GetOptions{})
	if err != nil {
		return nil, nil, err
	}
	mc, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, rotConfig, metav1.GetOptions{})
	if err != nil {
		return nil, nil, err
	}
	if len(vc.Webhooks) != 1 || len(mc.Webhooks) != 1 {
		return nil, nil, fmt.Errorf("want one webhook per configuration, have %d and %d", len(vc.Webhooks), len(mc.Webhooks))
	}
	return vc.Webhooks[0].ClientConfig.CABundle, mc.Webhooks[0].ClientConfig.CABundle, nil
}

// waitConsistent waits until both caBundles start with the Secret's ca.crt
// (during a CA overlap the previous CA follows it), the Secret's ca.crt
// differs from notCA (when given) and the served certificate is the
// Secret's tls.crt, which verifies against that CA.
func rotWaitConsistent(t *testing.T, cs kubernetes.Interface, port int, notCA []byte, timeout time.Duration) map[string][]byte {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		data := rotSecretData(t, cs)
		v, m, err := rotCaBundles(context.Background(), cs)
		ca := data[rotCAKey]
		switch {
		case err != nil:
			last = err.Error()
		case len(ca) == 0:
			last = "the Secret has no " + rotCAKey
		case notCA != nil && bytes.Equal(ca, notCA):
			last = "the Secret still holds the old CA"
		case len(v) == 0 || len(m) == 0:
			last = fmt.Sprintf("caBundle not injected yet (validating %d bytes, mutating %d bytes)", len(v), len(m))
		case !bytes.HasPrefix(v, ca) || !bytes.HasPrefix(m, ca):
			last = fmt.Sprintf("caBundles (validating %s, mutating %s) do not start with the Secret's %s %s",
				rotPemFingerprint(v), rotPemFingerprint(m), rotCAKey, rotPemFingerprint(ca))
		default:
			leaf, err := rotServedCert(port)
			switch {
			case err != nil:
				last = "TLS handshake: " + err.Error()
			case rotFingerprint(leaf.Raw) != rotPemFingerprint(data[rotCertKey]):
				last = fmt.Sprintf("serving %s, the Secret's %s is %s", rotFingerprint(leaf.Raw), rotCertKey, rotPemFingerprint(data[rotCertKey]))
			default:
				if err := rotVerifyAgainst(leaf, ca); err != nil {
					t.Fatalf("the served certificate (the Secret's %s) does not verify for %s against the Secret's %s: %v", rotCertKey, rotDNSName, rotCAKey, err)
				}
				return data
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("certificates not consistent within %s: %s", timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ---- the rotation observer ----

type rotSample struct {
	at       time.Time
	served   string // leaf fingerprint; "" when the handshake failed
	vCA, mCA string // fingerprints of the configured caBundles' first CA
	vBundle  string // fingerprints of all CAs of the validating caBundle, comma-separated
	mBundle  string
	ok       bool // the served leaf verifies against both caBundles
	why      string
}

// rotObserver samples, every ~25ms, the served certificate and both
// caBundles, and whether the former verifies against the latter: the
// condition the API server needs to call the webhook.
type rotObserver struct {
	mu      sync.Mutex
	samples []rotSample
	done    chan struct{}
	cancel  context.CancelFunc
}

// stop ends the sampling (idempotent) and returns the samples.

func rotObserveRotation(cs kubernetes.Interface, port int) *rotObserver {
	ctx, cancel := context.WithCancel(context.Background())
	o := &rotObserver{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(o.done)
		tick := time.NewTicker(25 * time.Millisecond)
		defer tick.Stop()
		for {
			smp := rotSample{at: time.Now(), ok: true}
			v, m, err := rotCaBundles(ctx, cs)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				smp.ok, smp.why = false, "reading caBundles: "+err.Error()
			} else {
				smp.vCA, smp.mCA = rotPemFingerprint(v), rotPemFingerprint(m)
				smp.vBundle, smp.mBundle = rotBundleFingerprints(v), rotBundleFingerprints(m)
			}
			leaf, err := rotServedCert(port)
			if err != nil {
				smp.ok, smp.why = false, "handshake: "+err.Error()
			} else {
				smp.served = rotFingerprint(leaf.Raw)
				if smp.ok {
					if err := rotVerifyAgainst(leaf, v); err != nil {
						smp.ok, smp.why = false, "validating caBundle: "+err.Error()
					} else if err := rotVerifyAgainst(leaf, m); err != nil {
						smp.ok, smp.why = false, "mutating caBundle: "+err.Error()
					}
				}
			}
			o.mu.Lock()
			o.samples = append(o.samples, smp)
			o.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return o
}

func (o *rotObserver) stop() []rotSample {
	o.cancel() // a CancelFunc may be called again
	<-o.done
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.samples
}

type rotInterval struct {
	from, to time.Time // bounded by the last good sample before and the first good one after
	samples  int
	why      string
}

// mismatches are the stretches of samples in which the served certificate
// did not verify against the configured caBundles.
func rotMismatches(samples []rotSample) []rotInterval {
	var out []rotInterval
	var cur *rotInterval
	for i, smp := range samples {
		if !smp.ok {
			if cur == nil {
				from := smp.at
				if i > 0 {
					from = samples[i-1].at
				}
				cur = &rotInterval{from: from, why: smp.why}
			}
			cur.samples++
			cur.to = smp.at
			continue
		}
		if cur != nil {
			cur.to = smp.at
			out = append(out, *cur)
			cur = nil
		}
	}
	if cur != nil {
		out = append(out, *cur)
	}
	return out
}

// firstChange is when a sampled value first differed from its first value.
func rotFirstChange(samples []rotSample, f func(rotSample) string) (time.Time, string, string) {
	if len(samples) == 0 {
		return time.Time{}, "", ""
	}
	first := f(samples[0])
	for _, smp := range samples[1:] {
		if v := f(smp); v != "" && v != first {
			return smp.at, first, v
		}
	}
	return time.Time{}, first, first
}

// ---- requests through the window ----

type rotAttempt struct {
	start, end time.Time
	r          result
}

func (a rotAttempt) reachedWebhook() bool {
	return a.r.code != 0 && strings.Contains(a.r.stderr, `admission webhook "`+rotValidate+`" denied the request`) &&
		strings.Contains(a.r.stderr, "[owned_fields] "+rotImagePath+" of Deployment "+rotNS+"/api is owned by Terraform")
}

func (a rotAttempt) webhookCallFailed() bool {
	return strings.Contains(a.r.stderr, "failed calling webhook")
}

func (a rotAttempt) overlaps(iv rotInterval, slack time.Duration) bool {
	return a.start.Before(iv.to.Add(slack)) && a.end.After(iv.from.Add(-slack))
}

// aliceDryRun is alice's server-side dry-run of the Terraform-owned
// image: the instance answers it with an owned_fields denial.
func rotAliceDryRun() rotAttempt {
	a := rotAttempt{start: time.Now()}
	a.r = k(asAlice, "set", "image", "deployment/api", "api="+rotImg2, "-n", rotNS, "--dry-run=server")
	a.end = time.Now()
	return a
}

// throughWindow sends n dry-runs every interval, calling act just before
// request number actAt, and returns them with act's time.
func rotThroughWindow(t *testing.T, n, actAt int, every time.Duration, act func()) ([]rotAttempt, time.Time) {
	t.Helper()
	var out []rotAttempt
	var actedAt time.Time
	begin := time.Now()
	for i := range n {
		if d := time.Until(begin.Add(time.Duration(i) * every)); d > 0 {
			time.Sleep(d)
		}
		if i == actAt {
			actedAt = time.Now()
			act()
		}
		out = append(out, rotAliceDryRun())
	}
	return out, actedAt
}

// rotSummary classifies the attempts against the mismatch intervals; it
// returns the failures that no interval explains and the ones one does.
func rotSummary(t *testing.T, label string, t0 time.Time, attempts []rotAttempt, ivs []rotInterval) (unexplained, inWindow []rotAttempt) {
	t.Helper()
	rel := func(x time.Time) string { return fmt.Sprintf("%+dms", x.Sub(t0).Milliseconds()) }
	var b strings.Builder
	for i, a := range attempts {
		state := "answered by " + rotValidate + " (owned_fields deny)"
		if !a.reachedWebhook() {
			explained := false
			for _, iv := range ivs {
				if a.webhookCallFailed() && a.overlaps(iv, 250*time.Millisecond) {
					explained = true
				}
			}
			if explained {
				inWindow = append(inWindow, a)
				state = "FAILED inside the mismatch window: " + rotDenialOrErr(a.r)
			} else {
				unexplained = append(unexplained, a)
				state = "FAILED: " + rotDenialOrErr(a.r)
			}
		}
		fmt.Fprintf(&b, "\n  #%02d %s..%s %s", i, rel(a.start), rel(a.end), state)
	}
	t.Logf("%s: %d dry-run requests (times relative to sending the Secret patch):%s", label, len(attempts), b.String())
	return unexplained, inWindow
}

func rotDenialOrErr(r result) string {
	for _, l := range strings.Split(r.stderr, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return fmt.Sprintf("exit %d, no stderr", r.code)
}

func rotDeployment(image string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: %s
spec:
  replicas: 1
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
      - name: api
        image: %s
`, rotNS, image)
}

// rotWebhookYAML: URL-addressed configurations without a caBundle (the
// rotator injects it), for Deployments in rot-a only.
func rotWebhookYAML(port int) string {
	hook := func(kind, name, path string) string {
		return fmt.Sprintf(`apiVersion: admissionregistration.k8s.io/v1
kind: %s
metadata:
  name: %s
  labels: {app.kubernetes.io/name: driftguard-rot, driftguard.io/ignore: "true"}
webhooks:
- name: %s
  clientConfig:
    url: https://%s:%d%s
  admissionReviewVersions: [v1]
  sideEffects: NoneOnDryRun
  timeoutSeconds: 5
  failurePolicy: Fail
  rules:
  - apiGroups: [apps]
    apiVersions: [v1]
    resources: [deployments]
    operations: [CREATE, UPDATE, DELETE]
  namespaceSelector:
    matchLabels: {kubernetes.io/metadata.name: %s}
`, kind, rotConfig, name, rotDNSName, port, path, rotNS)
	}
	return hook("ValidatingWebhookConfiguration", rotValidate, "/validate") + "---\n" +
		hook("MutatingWebhookConfiguration", rotMutate, "/mutate")
}

// The namespaces carry driftguard.io/ignore=true, which the main
// instance's namespaceSelector excludes (main_test.go webhookConfigYAML),
// so only the second instance answers for rot-a and the rotator's Secret
// writes in driftguard-system. The Secret is the one the chart renders
// for selfManaged certificates: no data (cert-controller only updates it).
const rotSetupYAML = `apiVersion: v1
kind: Namespace
metadata:
  name: ` + rotNS + `
  labels: {driftguard.io/ignore: "true"}
---
apiVersion: v1
kind: Namespace
metadata:
  name: ` + rotSystemNS + `
  labels: {driftguard.io/ignore: "true"}
---
apiVersion: v1
kind: Secret
metadata:
  name: ` + rotSecret + `
  namespace: ` + rotSystemNS + `
type: Opaque
`

func TestCertRotation(t *testing.T) {
	cs := rotClient(t)
	ri := &rotInstance{}
	kubeletCtx, stopKubelet := context.WithCancel(context.Background())
	kubeletDone := make(chan struct{})
	close(kubeletDone) // replaced once the kubelet runs

	// One cleanup, in order: unregister the webhooks first (a stopped
	// instance must never block the API server), then stop the instance.
	t.Cleanup(func() {
		if r := s.kubectl("delete", "validatingwebhookconfiguration,mutatingwebhookconfiguration", rotConfig,
			"--ignore-not-found", "--wait=false"); r.code != 0 {
			t.Errorf("deleting the webhook configurations %s: %s", rotConfig, r)
		}
		ri.stop(t)
		stopKubelet()
		<-kubeletDone
		if t.Failed() && ri.logFile != "" {
			t.Logf("----- last 80 lines of the second driftguard's log (%s) -----\n%s\n----- end -----", ri.logFile, ri.logTail(80))
		}
		// envtest runs no namespace controller, so deleted namespaces would
		// stay Terminating; the objects go instead (harmless if left: both
		// namespaces are ignored by the main instance).
		rotReset(t)
	})

	// 1. namespaces and the empty Secret (fresh, also under -count=N)
	rotReset(t)
	mustSucceed(t, s.kubectlIn(rotSetupYAML, "apply", "-f", "-"))

	// 2. ports and webhook configurations without a caBundle
	ri.ports(t)
	mustSucceed(t, s.kubectlIn(rotWebhookYAML(ri.port), "apply", "-f", "-"))
	if v, m, err := rotCaBundles(context.Background(), cs); err != nil || len(v) != 0 || len(m) != 0 {
		t.Fatalf("the configurations must start without a caBundle: validating %d bytes, mutating %d bytes, err %v", len(v), len(m), err)
	}

	// 3. the second instance
	ri.start(t, rotSystemNS+"/"+rotSecret, rotConfig+","+rotConfig)

	// 4. the kubelet, projecting the Secret into --cert-dir
	kl := &rotKubelet{cs: cs, dir: ri.certDir}
	kubeletDone = make(chan struct{})
	go func() { defer close(kubeletDone); kl.run(kubeletCtx, 200*time.Millisecond) }()

	// 5. bootstrap: Secret filled, CA injected, files mounted, serving
	t.Run("bootstrap: CA injected into both configurations, serving the Secret's certificate", func(t *testing.T) {
		start := time.Now()
		ri.waitReady(t, 60*time.Second)
		t.Logf("ready %s after start", time.Since(start).Round(time.Millisecond))
		data := rotWaitConsistent(t, cs, ri.port, nil, 10*time.Second)
		for _, key := range []string{rotCAKey, "ca.key", rotCertKey, rotKeyKey} {
			if len(data[key]) == 0 {
				t.Errorf("the Secret has no %s; keys: %v", key, rotKeysOf(data))
			}
		}
		v, m, err := rotCaBundles(context.Background(), cs)
		if err != nil {
			t.Fatal(err)
		}
		if len(v) == 0 || !bytes.Equal(v, data[rotCAKey]) || !bytes.Equal(m, data[rotCAKey]) {
			t.Fatalf("caBundles (validating %s, mutating %s) must equal the Secret's %s %s",
				rotPemFingerprint(v), rotPemFingerprint(m), rotCAKey, rotPemFingerprint(data[rotCAKey]))
		}
		leaf, err := rotParsePEMCert(data[rotCertKey])
		if err != nil {
			t.Fatalf("the Secret's %s: %v", rotCertKey, err)
		}
		if got := ri.metric(t, "driftguard_certificate_expiry_timestamp_seconds", nil); got != float64(leaf.NotAfter.Unix()) {
			t.Errorf("driftguard_certificate_expiry_timestamp_seconds is %v, want the Secret certificate's NotAfter %d", got, leaf.NotAfter.Unix())
		}
		if ps := kl.projections(); len(ps) != 1 {
			t.Errorf("the kubelet projected the Secret %d times during bootstrap, want 1: %+v", len(ps), ps)
		}
		t.Logf("CA %s, serving certificate %s (DNS %v, valid until %s)", rotPemFingerprint(data[rotCAKey]),
			rotPemFingerprint(data[rotCertKey]), leaf.DNSNames, leaf.NotAfter.Format(time.DateOnly))
	})
	if t.Failed() {
		return
	}

	// 6. the API server calls the instance; its denial is counted on its /metrics
	if !t.Run("owned_fields denial answered by the second instance", func(t *testing.T) {
		requests := func() float64 {
			return ri.metric(t, "driftguard_admission_requests_total", map[string]string{"webhook": "validate", "kind": "Deployment", "dry_run": "true"})
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			before := requests()
			r := kIn(asTerraform, rotDeployment(rotImg1), "apply", "--server-side", "--field-manager=Terraform", "--dry-run=server", "-f", "-")
			if r.code == 0 && requests() > before {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the API server did not reach the second instance within 30s; last probe:\n%s", r)
			}
			time.Sleep(200 * time.Millisecond)
		}
		mainReq := watch(t, "driftguard_admission_requests_total", map[string]string{"kind": "Deployment"})
		mustSucceed(t, kIn(asTerraform, rotDeployment(rotImg1), "apply", "--server-side", "--field-manager=Terraform", "-f", "-"))

		mainDeny := decisions(t, "owned_fields", "deny", "false")
		before := ri.decisions(t, "false")
		r := k(asAlice, "set", "image", "deployment/api", "api="+rotImg2, "-n", rotNS)
		rotExpectDenied(t, r)
		if got := get(t, "deployment/api", rotNS, "{.spec.template.spec.containers[0].image}"); got != rotImg1 {
			t.Errorf("image is %q after the denied set image, want %q", got, rotImg1)
		}
		if d := ri.decisions(t, "false") - before; d != 1 {
			t.Errorf("the second instance counted %v owned_fields denials, want 1", d)
		}
		mainDeny.expectDelta(t, 0)
		mainReq.expectDelta(t, 0) // the main instance never saw rot-a
	}) {
		return
	}

	// 7. CA rotation
	t.Run("CA rotation: Secret data removed, new CA injected, certificate reloaded, still denied", func(t *testing.T) {
		old := rotSecretData(t, cs)
		leaf, err := rotServedCert(ri.port)
		if err != nil {
			t.Fatal(err)
		}
		if rotFingerprint(leaf.Raw) != rotPemFingerprint(old[rotCertKey]) {
			t.Fatalf("serving %s before the rotation, the Secret holds %s", rotFingerprint(leaf.Raw), rotPemFingerprint(old[rotCertKey]))
		}
		projBefore := len(kl.projections())
		dryBefore := ri.decisions(t, "true")

		obs := rotObserveRotation(cs, ri.port)
		defer obs.stop() // also when a Fatal ends the subtest early
		attempts, clearedAt := rotThroughWindow(t, 20, 4, 500*time.Millisecond, func() {
			mustSucceed(t, s.kubectl("patch", "secret", rotSecret, "-n", rotSystemNS, "--type=json",
				"-p", `[{"op":"remove","path":"/data"}]`))
		})
		cur := rotWaitConsistent(t, cs, ri.port, old[rotCAKey], 30*time.Second)
		time.Sleep(200 * time.Millisecond) // a last stretch of good samples
		samples := obs.stop()

		if bytes.Equal(cur[rotCAKey], old[rotCAKey]) || bytes.Equal(cur[rotCertKey], old[rotCertKey]) {
			t.Fatalf("the rotator did not regenerate the CA and the certificate")
		}
		t.Logf("CA %s -> %s, serving certificate %s -> %s", rotPemFingerprint(old[rotCAKey]), rotPemFingerprint(cur[rotCAKey]),
			rotPemFingerprint(old[rotCertKey]), rotPemFingerprint(cur[rotCertKey]))

		// when what changed, relative to the Secret write
		rel := func(x time.Time) string {
			if x.IsZero() {
				return "never"
			}
			return fmt.Sprintf("%+dms", x.Sub(clearedAt).Milliseconds())
		}
		vAt, _, _ := rotFirstChange(samples, func(x rotSample) string { return x.vCA })
		mAt, _, _ := rotFirstChange(samples, func(x rotSample) string { return x.mCA })
		sAt, _, _ := rotFirstChange(samples, func(x rotSample) string { return x.served })
		var projAt time.Time
		if ps := kl.projections(); len(ps) > projBefore {
			projAt = ps[projBefore].at
			if len(ps) != projBefore+1 {
				t.Logf("note: the kubelet projected %d new versions of the Secret", len(ps)-projBefore)
			}
		}
		ivs := rotMismatches(samples)
		var worst time.Duration
		var ivText strings.Builder
		for _, iv := range ivs {
			worst = max(worst, iv.to.Sub(iv.from))
			fmt.Fprintf(&ivText, "\n  %s..%s (%dms, %d samples): %s", rel(iv.from), rel(iv.to), iv.to.Sub(iv.from).Milliseconds(), iv.samples, iv.why)
		}
		t.Logf("timeline (%d observer samples): kubectl patch removing the Secret data sent at 0ms; caBundle changed validating %s, mutating %s; kubelet projected the new files %s; served certificate changed %s",
			len(samples), rel(vAt), rel(mAt), rel(projAt), rel(sAt))
		if len(ivs) == 0 {
			t.Logf("the served certificate verified against the configured caBundles in every sample")
		} else {
			t.Logf("windows in which the served certificate did NOT verify against the configured caBundles (the API server cannot call the webhook then; failurePolicy Fail rejects):%s", ivText.String())
		}
		// the new certificate is served promptly once it is both mounted and
		// trusted: the certificate watcher reads the files every second and
		// the gate lets it through on the caBundle update
		switchable := projAt
		for _, x := range []time.Time{vAt, mAt} {
			if x.After(switchable) {
				switchable = x
			}
		}
		if !sAt.IsZero() && !projAt.IsZero() && sAt.Sub(switchable) > 2*time.Second {
			t.Errorf("the served certificate changed %s after the new files were projected and the new CA injected: the certificate watcher or the gate missed the change", sAt.Sub(switchable).Round(time.Millisecond))
		}
		if sAt.IsZero() {
			t.Errorf("the served certificate never changed during the rotation")
		}
		if !vAt.IsZero() && !sAt.IsZero() && sAt.Before(vAt) || !mAt.IsZero() && !sAt.IsZero() && sAt.Before(mAt) {
			t.Errorf("the new certificate was served (%s) before both caBundles trusted its CA (validating %s, mutating %s)", rel(sAt), rel(vAt), rel(mAt))
		}
		for _, iv := range ivs {
			t.Errorf("for %dms (%d samples) the served certificate did not verify against the configured caBundles: %s", iv.to.Sub(iv.from).Milliseconds(), iv.samples, iv.why)
		}

		unexplained, inWindow := rotSummary(t, "CA rotation", clearedAt, attempts, ivs)
		for _, a := range append(unexplained, inWindow...) {
			t.Errorf("a dry-run request failed during the CA rotation:\n%s", a.r)
		}
		answered := 0
		for _, a := range attempts {
			if a.reachedWebhook() {
				answered++
			}
		}
		if d := ri.decisions(t, "true") - dryBefore; d != float64(answered) {
			t.Errorf("the second instance counted %v dry-run denials, %d requests were answered with one", d, answered)
		}

		// the API server trusts the new CA
		before := ri.decisions(t, "false")
		var r result
		deadline := time.Now().Add(15 * time.Second)
		for {
			r = k(asAlice, "set", "image", "deployment/api", "api="+rotImg2, "-n", rotNS)
			if !(rotAttempt{r: r}).webhookCallFailed() || time.Now().After(deadline) {
				break
			}
			t.Logf("after the rotation the webhook call still fails, retrying: %s", rotDenialOrErr(r))
			time.Sleep(500 * time.Millisecond)
		}
		rotExpectDenied(t, r)
		if d := ri.decisions(t, "false") - before; d != 1 {
			t.Errorf("the second instance counted %v owned_fields denials after the rotation, want 1", d)
		}

		// the overlap: both configurations trusted both CAs, new first ...
		oldCA, err := rotParsePEMCert(old[rotCAKey])
		if err != nil {
			t.Fatal(err)
		}
		newCA, err := rotParsePEMCert(cur[rotCAKey])
		if err != nil {
			t.Fatal(err)
		}
		sawOverlap := false
		for _, smp := range samples {
			if smp.vBundle == rotFingerprint(newCA.Raw)+","+rotFingerprint(oldCA.Raw) && smp.mBundle == smp.vBundle {
				sawOverlap = true
			}
		}
		if !sawOverlap {
			t.Errorf("no sample saw both caBundles hold [new CA, old CA] during the rotation")
		}
		// ... and once --ca-overlap (rotOverlap) has passed, the new CA alone
		deadline = time.Now().Add(rotOverlap + 10*time.Second)
		for {
			v, m, err := rotCaBundles(context.Background(), cs)
			if err == nil && bytes.Equal(v, cur[rotCAKey]) && bytes.Equal(m, cur[rotCAKey]) {
				t.Logf("overlap over: the caBundles hold the new CA %s alone", rotPemFingerprint(cur[rotCAKey]))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the caBundles still hold more than the new CA %s after the overlap (validating %s, mutating %s, err %v)",
					rotPemFingerprint(cur[rotCAKey]), rotBundleFingerprints(v), rotBundleFingerprints(m), err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		r = k(asAlice, "set", "image", "deployment/api", "api="+rotImg2, "-n", rotNS, "--dry-run=server")
		if !(rotAttempt{r: r}).reachedWebhook() {
			t.Errorf("after the overlap the webhook is not answering:\n%s", r)
		}
	})

	// routine renewal: the serving certificate alone
	t.Run("serving certificate renewal: CA kept, caBundle unchanged, no request fails", func(t *testing.T) {
		old := rotSecretData(t, cs)
		v0, m0, err := rotCaBundles(context.Background(), cs)
		if err != nil {
			t.Fatal(err)
		}
		obs := rotObserveRotation(cs, ri.port)
		defer obs.stop() // also when a Fatal ends the subtest early
		attempts, removedAt := rotThroughWindow(t, 10, 2, 500*time.Millisecond, func() {
			mustSucceed(t, s.kubectl("patch", "secret", rotSecret, "-n", rotSystemNS, "--type=json",
				"-p", `[{"op":"remove","path":"/data/tls.crt"},{"op":"remove","path":"/data/tls.key"}]`))
		})
		deadline := time.Now().Add(30 * time.Second)
		for {
			leaf, err := rotServedCert(ri.port)
			cur := rotSecretData(t, cs)
			if err == nil && len(cur[rotCertKey]) > 0 && !bytes.Equal(cur[rotCertKey], old[rotCertKey]) &&
				rotFingerprint(leaf.Raw) == rotPemFingerprint(cur[rotCertKey]) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the serving certificate was not renewed and served within 30s (Secret %s: %s, was %s)",
					rotCertKey, rotPemFingerprint(cur[rotCertKey]), rotPemFingerprint(old[rotCertKey]))
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
		samples := obs.stop()
		cur := rotWaitConsistent(t, cs, ri.port, nil, 10*time.Second)
		if !bytes.Equal(cur[rotCAKey], old[rotCAKey]) {
			t.Errorf("renewing the serving certificate changed the CA %s -> %s", rotPemFingerprint(old[rotCAKey]), rotPemFingerprint(cur[rotCAKey]))
		}
		v, m, err := rotCaBundles(context.Background(), cs)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(v, v0) || !bytes.Equal(m, m0) {
			t.Errorf("renewing the serving certificate changed the caBundles")
		}
		sAt, _, _ := rotFirstChange(samples, func(x rotSample) string { return x.served })
		t.Logf("serving certificate %s -> %s, served from %+dms", rotPemFingerprint(old[rotCertKey]), rotPemFingerprint(cur[rotCertKey]), sAt.Sub(removedAt).Milliseconds())
		ivs := rotMismatches(samples)
		for _, iv := range ivs {
			t.Errorf("the served certificate did not verify against the caBundles for %dms (%d samples): %s", iv.to.Sub(iv.from).Milliseconds(), iv.samples, iv.why)
		}
		unexplained, inWindow := rotSummary(t, "serving certificate renewal", removedAt, attempts, ivs)
		for _, a := range append(unexplained, inWindow...) {
			t.Errorf("a dry-run request failed during the serving certificate renewal:\n%s", a.r)
		}
	})

	if errs := kl.errors(); len(errs) > 0 {
		t.Logf("kubelet simulation errors: %v", errs)
	}
}

// rotExpectDenied asserts the second instance's validating webhook (its
// own webhook name) denied alice's image change with owned_fields.
func rotExpectDenied(t *testing.T, r result) {
	t.Helper()
	if r.code == 0 {
		t.Fatalf("expected a denial, but kubectl succeeded:\n%s", r)
	}
	if !strings.Contains(r.stderr, `admission webhook "`+rotValidate+`" denied the request`) {
		t.Fatalf("expected the second instance's denial (%s):\n%s", rotValidate, r)
	}
	for _, w := range []string{
		"[owned_fields] " + rotImagePath + " of Deployment " + rotNS + "/api is owned by Terraform",
		"alice is not Terraform's identity",
	} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("denial does not contain %q:\n%s", w, r)
		}
	}
}

// rotReset deletes what a previous run left: the Deployment and the Secret.
func rotReset(t *testing.T) {
	t.Helper()
	for _, obj := range [][]string{{"deployment", "api", "-n", rotNS}, {"secret", rotSecret, "-n", rotSystemNS}} {
		if r := s.kubectl(append([]string{"delete", "--ignore-not-found", "--wait=false"}, obj...)...); r.code != 0 {
			t.Errorf("deleting %s: %s", strings.Join(obj, " "), r)
		}
	}
}

func rotKeysOf(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestCertRotationMissingSecret: when the rotator cannot run (here the
// --cert-secret Secret does not exist, e.g. a name that does not match
// the chart's), driftguard must not linger as a process that will never
// serve: cert-controller's rotator returns its error from Start, which
// stops the controller manager for good (no retry; creating the Secret
// later does not help). Exiting non-zero lets the kubelet restart it
// (CrashLoopBackOff, the error in the previous container's log) and a
// restart recovers once the Secret exists.
func TestCertRotationMissingSecret(t *testing.T) {
	const missing = "driftguard-rot-missing"
	mustSucceed(t, s.kubectlIn(rotSetupYAML, "apply", "-f", "-"))
	mustSucceed(t, s.kubectl("delete", "secret", missing, "-n", rotSystemNS, "--ignore-not-found"))

	// configuration names that do not exist: nothing is injected, nothing
	// can block the API server
	ri := &rotInstance{}
	t.Cleanup(func() {
		ri.stop(t)
		if t.Failed() && ri.logFile != "" {
			t.Logf("----- last 40 lines of its log (%s) -----\n%s\n----- end -----", ri.logFile, ri.logTail(40))
		}
	})
	ri.start(t, rotSystemNS+"/"+missing, missing+","+missing)

	select {
	case <-ri.done:
		var ee *exec.ExitError
		if !errors.As(ri.err, &ee) || ee.ExitCode() == 0 {
			t.Errorf("driftguard exited with %v, want a non-zero exit status", ri.err)
		}
		if log := ri.logTail(40); !strings.Contains(log, `Secret \"`+missing+`\" not found`) {
			t.Errorf("the log does not name the missing Secret:\n%s", log)
		}
	case <-time.After(20 * time.Second):
		b, _ := os.ReadFile(ri.logFile)
		var stopped string
		for _, l := range strings.Split(string(b), "\n") {
			var entry struct{ TS, Msg, Error string }
			if strings.Contains(l, "controller manager stopped") && json.Unmarshal([]byte(l), &entry) == nil {
				stopped = fmt.Sprintf("%s %s: %s", entry.TS, entry.Msg, entry.Error)
			}
		}
		if stopped == "" {
			t.Fatalf("driftguard is still running 20s after starting with a missing --cert-secret, and its controller manager did not stop either (/healthz %s, /readyz %s)",
				ri.get("/healthz"), ri.get("/readyz"))
		}
		t.Errorf("BUG: the certificate rotator failed (the Secret %s/%s does not exist) and took the controller manager down, "+
			"yet driftguard is still running 20s later: /healthz %s, /readyz %s. It will never serve (the webhook server waits for the rotator's "+
			"ready channel, and the stopped rotator never retries, even once the Secret exists) and, its liveness probe passing, the kubelet never restarts it. "+
			"internal/server/lifecycle.go must end Run with mgr.Start's error (exit 1). Logged: %s",
			rotSystemNS, missing, ri.get("/healthz"), ri.get("/readyz"), stopped)
	}
}
