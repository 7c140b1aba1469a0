package admit_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"

	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/loader"
	"github.com/driftguard/driftguard/internal/metrics"
)

// ctrlLogs records controller-runtime's own log output (admission.Webhook
// logs through it, not through the handler's logger), so the Secret test
// can search it too; it also keeps "log.SetLogger(...) was never called"
// stack traces out of the test output.
var ctrlLogs struct {
	sync.Mutex
	bytes.Buffer
}

func init() {
	ctrllog.SetLogger(funcr.New(func(prefix, args string) {
		ctrlLogs.Lock()
		defer ctrlLogs.Unlock()
		if ctrlLogs.Len() < 4<<20 {
			fmt.Fprintf(&ctrlLogs, "%s %s\n", prefix, args)
		}
	}, funcr.Options{Verbosity: 10, LogCaller: funcr.None}))
}

const slowPolicy = `# METADATA
# custom:
#   kinds: [Deployment]
#   operations: [UPDATE]
package driftguard.policies.slow
deny contains "never" if {
	n := numbers.range(1, 100000000)
	count([x | some x in n; x < 0]) > 0
}
`

func writeFile(t testing.TB, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// postAnswer posts body and decodes the answer without failing the test
// from another goroutine.
func postAnswer(h http.Handler, body []byte) (*admissionv1.AdmissionResponse, error) {
	w := post(h, body)
	if w.Code != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %s", w.Code, w.Body.String())
	}
	var rv admissionv1.AdmissionReview
	if err := json.Unmarshal(w.Body.Bytes(), &rv); err != nil {
		return nil, err
	}
	if rv.APIVersion != "admission.k8s.io/v1" || rv.Kind != "AdmissionReview" || rv.Response == nil {
		return nil, fmt.Errorf("not a v1 review answer: %s", w.Body.String())
	}
	return rv.Response, nil
}

// Many concurrent requests (more than cores) against a policy that runs
// for a long time are all cut off by the evaluation deadline and answered
// per failurePolicy, each within the deadline plus a margin.
func TestSlowPolicyManyConcurrentRequestsAnswerInTime(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "slow.rego"), slowPolicy)
	const deadline = 300 * time.Millisecond
	cfgPath := writeFile(t, filepath.Join(t.TempDir(), "c.yaml"), "evalTimeout: 300ms\nfailurePolicy: deny\n")
	e := newEnvOpts(t, loader.Options{ConfigFile: cfgPath, PolicyDirs: []string{dir}, NoBundled: true})
	h := e.validate
	body := review(t, func(req map[string]any) { setUser(req, "system:serviceaccount:infra:terraform") })

	n := max(50, 4*runtime.GOMAXPROCS(0))
	// generous margin: cancellation is checked between evaluation steps, and
	// n busy evaluations share few cores (more so under -race)
	margin := 10 * time.Second
	var wg sync.WaitGroup
	errs := make(chan error, n)
	slowest := atomic.Int64{}
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			t0 := time.Now()
			resp, err := postAnswer(h, body)
			el := time.Since(t0)
			for {
				s := slowest.Load()
				if int64(el) <= s || slowest.CompareAndSwap(s, int64(el)) {
					break
				}
			}
			switch {
			case err != nil:
				errs <- err
			case resp.Allowed:
				errs <- fmt.Errorf("slow policy with failurePolicy deny allowed: %+v", resp.Result)
			case !strings.Contains(resp.Result.Message, "could not evaluate this policy (timeout)"):
				errs <- fmt.Errorf("denial does not say timeout: %s", resp.Result.Message)
			case el > deadline+margin:
				errs <- fmt.Errorf("answer took %s, deadline %s", el, deadline)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d concurrent slow requests, slowest answer %s", n, time.Duration(slowest.Load()))
	if got := testutil.ToFloat64(e.metrics.EvalErrors.WithLabelValues("slow", "timeout")); got != float64(n) {
		t.Errorf("timeouts counted %v times, want %d", got, n)
	}
}

// 200 concurrent validating requests of the 8 KB review are all answered
// correctly (denied, naming the owner, with their own uid).
//
// The evaluation and request deadlines are raised to their maximum (29s): this test is
// about the handler under overload, not the deadline (on a busy 2-core
// machine under -race, 200 concurrent evaluations can take more than the
// default 2s, and are then rightly denied as timeouts).
func TestOverloadAllAnsweredCorrectly(t *testing.T) {
	cfg := strings.Replace(string(config.DefaultYAML()), "\nevalTimeout: 2s\n", "\nevalTimeout: 29s\n", 1)
	cfg = strings.Replace(cfg, "\nrequestTimeout: 4s\n", "\nrequestTimeout: 29s\n", 1)
	if !strings.Contains(cfg, "evalTimeout: 29s") || !strings.Contains(cfg, "requestTimeout: 29s") {
		t.Fatal("could not raise evalTimeout in the default config")
	}
	e := newEnv(t, cfg)
	const n = 200
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = review(t, func(req map[string]any) { req["uid"] = fmt.Sprintf("uid-%d", i) })
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := postAnswer(e.validate, bodies[i])
			switch {
			case err != nil:
				errs <- err
			case string(resp.UID) != fmt.Sprintf("uid-%d", i):
				errs <- fmt.Errorf("request %d answered with uid %q", i, resp.UID)
			case resp.Allowed || !strings.Contains(resp.Result.Message, "spec.template.spec.containers[api].image") || !strings.Contains(resp.Result.Message, "Terraform"):
				errs <- fmt.Errorf("request %d: allowed=%v %+v", i, resp.Allowed, resp.Result)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := testutil.ToFloat64(e.metrics.Decisions.WithLabelValues("owned_fields", "deny", "UPDATE", "Deployment", "false")); got != n {
		t.Errorf("denials counted %v times, want %d", got, n)
	}
	if got := testutil.ToFloat64(e.metrics.InFlight.WithLabelValues("validate")); got != 0 {
		t.Errorf("in-flight gauge %v after all answers", got)
	}
}

// While 8 goroutines send reviews continuously, the engine's state is
// swapped 20 times between enforce and warn mode for owned_fields (a
// fresh loader.Load each time): every answer is complete and is one of
// the two correct answers, none fails.
func TestHotReloadUnderLoad(t *testing.T) {
	e := newEnv(t, "")
	dir := t.TempDir()
	warnYAML := strings.Replace(string(config.DefaultYAML()), "  owned_fields:\n", "  owned_fields:\n    mode: warn\n", 1)
	if !strings.Contains(warnYAML, "mode: warn") {
		t.Fatal("could not switch owned_fields to warn mode")
	}
	cfgs := []string{
		writeFile(t, filepath.Join(dir, "enforce.yaml"), string(config.DefaultYAML())),
		writeFile(t, filepath.Join(dir, "warn.yaml"), warnYAML),
	}
	body := review(t, nil)
	// four fresh states (two of each config), loaded before the load starts
	// (compiling the bundled policies 20 times on a busy 2-core machine
	// takes most of a minute); each of the 20 swaps installs another one
	var states []*admit.State
	for i := 0; i < 4; i++ {
		st, err := loader.Load(context.Background(), loader.Options{ConfigFile: cfgs[(i+1)%2]})
		if err != nil {
			t.Fatal(err)
		}
		states = append(states, st)
	}

	var (
		stop             atomic.Bool
		wg               sync.WaitGroup
		total, denied    atomic.Int64
		allowedWithDrift atomic.Int64
		failures         = make(chan error, 100)
	)
	fail := func(err error) {
		select {
		case failures <- err:
		default:
		}
	}
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				for _, h := range []http.Handler{e.validate, e.mutate} {
					resp, err := postAnswer(h, body)
					total.Add(1)
					if err != nil {
						fail(err)
						continue
					}
					if string(resp.UID) != "3f1c9b0e-5b7a-4d5e-8c1a-2f0e9d8c7b6a" {
						fail(fmt.Errorf("uid %q", resp.UID))
					}
					if h == e.mutate {
						if !resp.Allowed {
							fail(fmt.Errorf("mutating webhook denied: %+v", resp.Result))
						}
						continue
					}
					ofWarnings := 0 // other policies may warn too; owned_fields' own warnings count
					for _, w := range resp.Warnings {
						if strings.HasPrefix(w, "[owned_fields]") {
							ofWarnings++
						}
					}
					switch {
					case !resp.Allowed && strings.Contains(resp.Result.Message, "[owned_fields]") && ofWarnings == 0:
						denied.Add(1)
					case resp.Allowed && ofWarnings == 1 && slices.ContainsFunc(resp.Warnings, func(w string) bool {
						return strings.HasPrefix(w, "[owned_fields] allowed by warn mode")
					}):
						allowedWithDrift.Add(1)
					default:
						fail(fmt.Errorf("incorrect answer: allowed=%v warnings=%q result=%+v", resp.Allowed, resp.Warnings, resp.Result))
					}
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		e.engine.Swap(states[i%len(states)])
		time.Sleep(25 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Error(err)
	}
	t.Logf("%d answers during 20 swaps: %d denials, %d warn-mode allows", total.Load(), denied.Load(), allowedWithDrift.Load())
	if denied.Load() == 0 || allowedWithDrift.Load() == 0 {
		t.Errorf("both states should have answered: %d denials, %d warn-mode allows", denied.Load(), allowedWithDrift.Load())
	}
}

// Hot reload through loader.Reloader with a changing policy directory
// (5 atomic replacements of a policy file), under load: no failed
// answers, and each new version is served.
func TestReloaderPolicyDirUnderLoad(t *testing.T) {
	dir := t.TempDir()
	extra := func(i int) string {
		return fmt.Sprintf("# METADATA\n# custom:\n#   kinds: [Deployment]\n#   operations: [UPDATE]\npackage driftguard.policies.extra\nwarn contains {\"msg\": \"generation %d\"} if true\n", i)
	}
	writeFile(t, filepath.Join(dir, "extra.rego"), extra(0))
	opts := loader.Options{PolicyDirs: []string{dir}}
	env := newEnvOpts(t, opts)
	h := env.validate
	rl := &loader.Reloader{Options: opts, Engine: env.engine, Metrics: env.metrics, Log: logr.Discard(), Interval: 10 * time.Millisecond}
	rl.Loaded(env.engine.State())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go rl.Run(ctx)

	body := review(t, nil)
	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		total    atomic.Int64
		seen     sync.Map
		failures = make(chan error, 100)
	)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				resp, err := postAnswer(h, body)
				total.Add(1)
				if err == nil && (resp.Allowed || !strings.Contains(resp.Result.Message, "[owned_fields]")) {
					err = fmt.Errorf("incorrect answer: %+v", resp.Result)
				}
				if err == nil {
					for _, w := range resp.Warnings {
						if strings.HasPrefix(w, "[extra] generation ") {
							seen.Store(w, true)
						}
					}
				}
				if err != nil {
					select {
					case failures <- err:
					default:
					}
				}
			}
		}()
	}
	for i := 1; i <= 5; i++ {
		tmp := writeFile(t, filepath.Join(t.TempDir(), "extra.rego"), extra(i))
		if err := os.Rename(tmp, filepath.Join(dir, "extra.rego")); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("[extra] generation %d", i)
		// a hang guard, not a speed target: a reload compiles every bundled
		// policy, which under the race detector on a loaded machine took >10s
		deadline := time.Now().Add(60 * time.Second)
		for {
			if _, ok := seen.Load(want); ok {
				break
			}
			if time.Now().After(deadline) {
				stop.Store(true)
				wg.Wait()
				t.Fatalf("reload %d not served within 60s", i)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Error(err)
	}
	t.Logf("%d answers during 5 reloads", total.Load())
}

// No Secret data in logs, answers or metrics: ESO-owned Secret reviews
// (alice adds a key; a malformed Secret) through both webhooks with a
// logger that records everything, then the answers and a text dump of the
// metrics registry are searched for the value, base64 and decoded.
func TestSecretDataNeverInLogsAnswersOrMetrics(t *testing.T) {
	const plain = "hunter2-ZQX-supersecret-4711"
	b64 := base64.StdEncoding.EncodeToString([]byte(plain))
	var logBuf bytes.Buffer
	var logMu sync.Mutex
	log := funcr.New(func(prefix, args string) {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintf(&logBuf, "%s %s\n", prefix, args)
	}, funcr.Options{Verbosity: 10, LogCaller: funcr.None})

	st, err := loader.Load(context.Background(), loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	e := admit.NewEngine(st, m)
	validate := admit.NewHTTPHandler("validate", &admit.Validator{Engine: e}, e, log)
	mutate := admit.NewHTTPHandler("mutate", &admit.Mutator{Engine: e}, e, log)

	meta := `{"name":"api-creds","namespace":"tenant-a","uid":"s-1","resourceVersion":"9",` +
		`"labels":{"reconcile.external-secrets.io/managed":"true"},` +
		`"ownerReferences":[{"apiVersion":"external-secrets.io/v1","kind":"ExternalSecret","name":"api-creds","uid":"es-1","controller":true}],` +
		`"managedFields":[{"manager":"external-secrets","operation":"Update","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:data":{".":{},"f:DB_USER":{}},"f:type":{}}}]}`
	secretObj := func(data string) string {
		return `{"apiVersion":"v1","kind":"Secret","metadata":` + meta + `,"type":"Opaque","data":{` + data + `}}`
	}
	rev := func(uid, op, obj, old string) []byte {
		return []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"` + uid + `",` +
			`"kind":{"group":"","version":"v1","kind":"Secret"},"resource":{"group":"","version":"v1","resource":"secrets"},` +
			`"name":"api-creds","namespace":"tenant-a","operation":"` + op + `","userInfo":{"username":"alice","groups":["devs","system:authenticated"]},` +
			`"object":` + obj + `,"oldObject":` + old + `}}`)
	}
	oldData := `"DB_USER":"YXBp"`
	reviews := map[string][]byte{
		"alice adds a key":            rev("s1", "UPDATE", secretObj(oldData+`,"API_TOKEN":"`+b64+`"`), secretObj(oldData)),
		"alice sets stringData":       rev("s2", "UPDATE", strings.Replace(secretObj(oldData), `"data":{`, `"stringData":{"API_TOKEN":"`+plain+`"},"data":{`, 1), secretObj(oldData)),
		"alice changes the value":     rev("s3", "UPDATE", secretObj(`"DB_USER":"`+b64+`"`), secretObj(oldData)),
		"alice deletes":               rev("s4", "DELETE", `null`, secretObj(`"DB_USER":"`+b64+`"`)),
		"create with the value":       rev("s5", "CREATE", secretObj(`"API_TOKEN":"`+b64+`"`), `null`),
		"malformed: data not a map":   rev("s6", "UPDATE", `{"apiVersion":"v1","kind":"Secret","metadata":`+meta+`,"data":"`+b64+`"}`, secretObj(oldData)),
		"malformed: metadata string":  rev("s7", "UPDATE", `{"apiVersion":"v1","kind":"Secret","metadata":"`+b64+`","data":{"K":"`+b64+`"}}`, secretObj(oldData)),
		"malformed: object a string":  rev("s8", "UPDATE", `"`+plain+`"`, secretObj(oldData)),
		"malformed: object an array":  rev("s9", "UPDATE", `["`+b64+`","`+plain+`"]`, secretObj(oldData)),
		"malformed: drift annotation": rev("s10", "UPDATE", strings.Replace(secretObj(oldData), `"labels":{`, `"annotations":{"driftguard.io/drift":"{`+plain+`"},"labels":{`, 1), secretObj(oldData)),
		"malformed: broken JSON":      []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"s11","kind":{"version":"v1","kind":"Secret"},"operation":"UPDATE","object":{"data":{"K":"` + b64 + `"` + plain),
		"malformed: data wrong type":  rev("s12", "UPDATE", `{"apiVersion":"v1","kind":"Secret","metadata":`+meta+`,"data":{"K":{"v":"`+b64+`","w":["`+plain+`"]}}}`, secretObj(oldData)),
		"malformed: name not string":  rev("s13", "UPDATE", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":{"x":"`+b64+`"}},"data":{"K":"`+b64+`"}}`, secretObj(oldData)),
		"malformed: data number":      rev("s14", "UPDATE", `{"apiVersion":"v1","kind":"Secret","metadata":`+meta+`,"data":{"K":"`+b64+`","N":12345}}`, secretObj(`"K":"`+plain+`"`)),
	}
	ctrlLogs.Lock()
	ctrlLogs.Reset()
	ctrlLogs.Unlock()
	var answers bytes.Buffer
	for name, body := range reviews {
		for _, h := range []http.Handler{validate, mutate} {
			w := post(h, body)
			fmt.Fprintf(&answers, "%s: HTTP %d %s\n", name, w.Code, w.Body.String())
		}
	}
	// the ESO policy did its work (the test would be vacuous otherwise)
	if !strings.Contains(answers.String(), "API_TOKEN") || !strings.Contains(answers.String(), "ExternalSecret") {
		t.Fatalf("the ESO-owned Secret edits were not denied by name:\n%s", answers.String())
	}
	var metricsText bytes.Buffer
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	metricsText.Write(rec.Body.Bytes())

	logMu.Lock()
	logs := logBuf.String()
	logMu.Unlock()
	ctrlLogs.Lock()
	logs += ctrlLogs.String()
	ctrlLogs.Unlock()
	for what, text := range map[string]string{"answers": answers.String(), "logs": logs, "metrics": metricsText.String()} {
		for _, secret := range []string{b64, plain, b64[:16], plain[:12]} {
			if i := strings.Index(text, secret); i >= 0 {
				lo, hi := max(0, i-200), min(len(text), i+len(secret)+50)
				t.Errorf("secret %q in %s: ...%s...", secret, what, text[lo:hi])
			}
		}
	}
	if testing.Verbose() {
		t.Logf("logs:\n%s", logs)
	}
}
