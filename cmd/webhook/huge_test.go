package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/driftguard/driftguard/internal/config"
)

// The Helm chart's container memory limit and webhook timeout
// (charts/driftguard/values.yaml resources.limits.memory,
// webhook.timeoutSeconds), and etcd's default request limit, which bounds
// each stored object.
const (
	chartMemoryLimit    = 512 << 20
	chartWebhookTimeout = 5 * time.Second
	etcdMaxObjectBytes  = 1536 << 10
)

// hugeConfigMap is a ConfigMap of n keys whose values all carry gen.
func hugeConfigMap(n int, gen string) string {
	var b strings.Builder
	b.Grow(n * 20)
	b.WriteString(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"huge","namespace":"tenant-a","uid":"cm-huge","resourceVersion":"41"},"data":{`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%05d":"%s%05d"`, i, gen, i)
	}
	b.WriteString("}}")
	return b.String()
}

// hugeRewrite is an UPDATE review that rewrites every value of an n-key
// ConfigMap; each side's size is returned for the test's own checks.
func hugeRewrite(uid string, n int) (review []byte, sideBytes int) {
	old, obj := hugeConfigMap(n, "o"), hugeConfigMap(n, "n")
	return []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"` + uid + `",` +
		`"kind":{"group":"","version":"v1","kind":"ConfigMap"},"resource":{"group":"","version":"v1","resource":"configmaps"},` +
		`"name":"huge","namespace":"tenant-a","operation":"UPDATE","userInfo":{"username":"alice","groups":["devs","system:authenticated"]},` +
		`"object":` + obj + `,"oldObject":` + old + `}}`), max(len(old), len(obj))
}

// peakRSS is the process's peak resident set size (VmHWM).
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/<pid>/status")
	return 0
}

// TestHugeReviewsStayInsideTheChartsBudget runs the real serve binary with
// the soft memory limit it sets itself in the chart's container (80% of
// 512 Mi) and sends what kube-apiserver can legally send: three concurrent
// UPDATEs of an 80,000-key ConfigMap that rewrite every value (each side
// under etcd's 1.5 MiB), then a 300,000-key one (maxRequestBytes raised so
// that the work bounds, not the size limit, answer it). Every review must
// be answered, with its uid, before the chart's webhook timeout, and the
// process's peak RSS must stay below the container's memory limit.
// A correctness bound, not a benchmark: docs/benchmarks.md has the numbers.
func TestHugeReviewsStayInsideTheChartsBudget(t *testing.T) {
	bin := serveBinary(t)
	t.Setenv("GOMEMLIMIT", strconv.Itoa(chartMemoryLimit/10*8))
	t.Setenv("GOGC", "")
	cfg := strings.Replace(string(config.DefaultYAML()), "\nmaxRequestBytes: 4456448\n", "\nmaxRequestBytes: 16777216\n", 1)
	if !strings.Contains(cfg, "maxRequestBytes: 16777216") {
		cfg += "\nmaxRequestBytes: 16777216\n"
	}
	s := startServer(t, bin, cfg, nil)
	pid := s.cmd.Process.Pid
	base := peakRSS(t, pid)

	send := func(label string, bodies [][]byte) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, len(bodies))
		took := make([]time.Duration, len(bodies))
		msgs := make([]string, len(bodies))
		for i, body := range bodies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				resp, _, err := s.review(s.client, body)
				took[i] = time.Since(start)
				switch {
				case err != nil:
					errs[i] = err
				case string(resp.UID) != fmt.Sprintf("huge-%s-%d", label, i):
					errs[i] = fmt.Errorf("answer for uid %q", resp.UID)
				case resp.Result != nil:
					msgs[i] = fmt.Sprintf("allowed %v: %s", resp.Allowed, resp.Result.Message)
				default:
					msgs[i] = fmt.Sprintf("allowed %v", resp.Allowed)
				}
			}()
		}
		wg.Wait()
		for i := range bodies {
			t.Logf("%s review %d (%d bytes): answered in %s: %s", label, i, len(bodies[i]), took[i].Round(time.Millisecond), msgs[i])
			if errs[i] != nil {
				t.Errorf("%s review %d: %v", label, i, errs[i])
			} else if took[i] >= chartWebhookTimeout {
				t.Errorf("%s review %d answered in %s, at or after the webhook timeout %s (the API server would have given up)", label, i, took[i], chartWebhookTimeout)
			}
		}
	}

	var bodies [][]byte
	for i := range 3 {
		b, side := hugeRewrite(fmt.Sprintf("huge-80k-%d", i), 80000)
		if side >= etcdMaxObjectBytes {
			t.Fatalf("test bug: an 80,000-key side of %d bytes is over etcd's %d", side, etcdMaxObjectBytes)
		}
		bodies = append(bodies, b)
	}
	send("80k", bodies)
	b, _ := hugeRewrite("huge-300k-0", 300000)
	send("300k", [][]byte{b})

	peak := peakRSS(t, pid)
	t.Logf("peak RSS %d MiB (%d MiB before the reviews), limit %d MiB", peak>>20, base>>20, chartMemoryLimit>>20)
	if peak >= chartMemoryLimit {
		t.Errorf("peak RSS %d MiB is at or over the chart's memory limit of %d MiB: the pod would be OOM-killed", peak>>20, chartMemoryLimit>>20)
	}
}
