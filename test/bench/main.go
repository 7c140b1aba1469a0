// Command bench is driftguard's load generator. It builds driftguard,
// starts it and a do-nothing controller-runtime webhook (the floor) — and,
// with -targets ...,gatekeeper, OPA Gatekeeper with two constraints doing
// a comparable job — as separate processes, each pinned to one CPU with
// GOMAXPROCS=1, and sends them the same mix of AdmissionReviews over
// HTTPS/1.1 keep-alive connections, in closed-loop (fixed concurrency) and
// open-loop (fixed rate) runs, each load level running every server in
// turn. It reports throughput, latency percentiles, errors,
// answers that differ from the expected ones, and the server's CPU time
// per request (from /proc), as a Markdown table; optionally with extra
// non-matching policies (cost as the policy count grows) and a soak run
// (memory over time).
//
//	go run ./test/bench -duration 10s -concurrency 1,8 -rate 500
//	go run ./test/bench -targets driftguard -extra-policies 0,50,200 -concurrency 8
//	go run ./test/bench -targets driftguard -concurrency '' -soak 10m -soak-rate 300
//	DRIFTGUARD_BENCH_GATEKEEPER=$(hack/bench-assets.sh | tail -n1) \
//	KUBEBUILDER_ASSETS=$(hack/e2e-assets.sh | tail -n1) \
//	  go run ./test/bench -targets floor,driftguard,gatekeeper -only deployment-update-owner
//
// See docs/benchmarks.md for results and how to read them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/driftguard/driftguard/internal/certs"
)

type options struct {
	targets     []string
	duration    time.Duration
	warmup      time.Duration
	conc        []int
	rates       []float64
	extra       []int
	cpu         int
	procs       int
	variants    int
	only        string
	binary      string
	soak        time.Duration
	soakRate    float64
	soakEvery   time.Duration
	maxInFlight int
	out         string
	keep        bool
	byType      bool
	writes      bool   // each review to /mutate, then /validate
	gatekeeper  string // dir with the gatekeeper binary and crds/ (hack/bench-assets.sh)
}

// urls are the webhook paths one review is sent to, in order.
func (o *options) urls(target string, port int) []string {
	paths := []string{"/validate"}
	if target == "gatekeeper" {
		paths = []string{"/v1/admit"}
	} else if o.writes {
		paths = []string{"/mutate", "/validate"}
	}
	var out []string
	for _, p := range paths {
		out = append(out, fmt.Sprintf("https://127.0.0.1:%d%s", port, p))
	}
	return out
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "floor" {
		if err := runFloor(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "floor:", err)
			os.Exit(1)
		}
		return
	}
	pinClient(os.Args[1:])
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// pinClient re-executes the load generator pinned to the CPU that
// -client-cpu names (default 0, the one the servers do not use), so that
// it does not compete with the server under test for its CPU.
func pinClient(args []string) {
	if os.Getenv("DRIFTGUARD_BENCH_PINNED") != "" {
		return
	}
	cpu := "0"
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "-client-cpu="); ok {
			cpu = v
		} else if a == "-client-cpu" && i+1 < len(args) {
			cpu = args[i+1]
		}
	}
	ts, err := exec.LookPath("taskset")
	if err != nil || strings.HasPrefix(cpu, "-") {
		return
	}
	self, err := os.Executable()
	if err != nil {
		return
	}
	env := append(os.Environ(), "DRIFTGUARD_BENCH_PINNED=1")
	_ = syscall.Exec(ts, append([]string{ts, "-c", cpu, self}, args...), env) // returns only on failure
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q is not a non-negative integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func parse(args []string) (*options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	o := &options{}
	targets := fs.String("targets", "floor,driftguard", "servers to load: floor, driftguard, gatekeeper")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured length of each run")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured load before each run")
	conc := fs.String("concurrency", "1,8", "closed-loop runs: concurrent connections (comma-separated)")
	rates := fs.String("rate", "", "open-loop runs: requests per second (comma-separated)")
	extra := fs.String("extra-policies", "0", "driftguard runs with this many extra policies that match no request (comma-separated)")
	fs.IntVar(&o.cpu, "cpu", 1, "pin each server to this CPU with taskset (-1: no pinning)")
	fs.Int("client-cpu", 0, "pin the load generator to this CPU with taskset (-1: no pinning)")
	fs.IntVar(&o.procs, "procs", 1, "GOMAXPROCS of the servers")
	fs.IntVar(&o.variants, "variants", 64, "distinct uids/resourceVersions per review type")
	fs.StringVar(&o.only, "only", "", "send only this review type instead of the mix")
	fs.StringVar(&o.binary, "binary", "", "driftguard binary (default: go build ./cmd/webhook)")
	fs.DurationVar(&o.soak, "soak", 0, "after the runs, a driftguard soak of this length (open loop at -soak-rate)")
	rate := fs.String("soak-rate", "200", "soak requests per second")
	fs.DurationVar(&o.soakEvery, "soak-every", 30*time.Second, "soak memory sampling interval")
	fs.IntVar(&o.maxInFlight, "max-in-flight", 256, "open loop: requests in flight at most")
	fs.StringVar(&o.out, "out", "", "also write the report to this file")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (logs, certificates)")
	fs.BoolVar(&o.byType, "by-type", false, "also report latency percentiles per review type")
	fs.StringVar(&o.gatekeeper, "gatekeeper", os.Getenv("DRIFTGUARD_BENCH_GATEKEEPER"), "target gatekeeper: dir with the gatekeeper binary and its crds/ (hack/bench-assets.sh; default $DRIFTGUARD_BENCH_GATEKEEPER); kube-apiserver and etcd come from $KUBEBUILDER_ASSETS")
	fs.BoolVar(&o.writes, "writes", false, "send each review to /mutate, then to /validate, as kube-apiserver calls driftguard's two webhooks for one write (rps, latency and CPU are then per write)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var err error
	for _, t := range strings.Split(*targets, ",") {
		if t = strings.TrimSpace(t); t != "" {
			if t != "floor" && t != "driftguard" && t != "gatekeeper" {
				return nil, fmt.Errorf("-targets: unknown target %q", t)
			}
			if slices.Contains(o.targets, t) {
				return nil, fmt.Errorf("-targets: %s twice", t)
			}
			o.targets = append(o.targets, t)
		}
	}
	if o.conc, err = intList(*conc); err != nil {
		return nil, fmt.Errorf("-concurrency: %w", err)
	}
	for _, c := range o.conc {
		if c == 0 {
			return nil, errors.New("-concurrency: 0 connections")
		}
	}
	if o.extra, err = intList(*extra); err != nil {
		return nil, fmt.Errorf("-extra-policies: %w", err)
	}
	if len(o.extra) == 0 {
		o.extra = []int{0}
	}
	for _, f := range strings.Split(*rates, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		r, err := strconv.ParseFloat(f, 64)
		if err != nil || r <= 0 {
			return nil, fmt.Errorf("-rate: %q is not a positive number", f)
		}
		o.rates = append(o.rates, r)
	}
	if o.soakRate, err = strconv.ParseFloat(*rate, 64); err != nil || o.soakRate <= 0 {
		return nil, fmt.Errorf("-soak-rate: %q is not a positive number", *rate)
	}
	if o.duration <= 0 || o.variants <= 0 || o.maxInFlight <= 0 || o.procs <= 0 {
		return nil, errors.New("-duration, -variants, -max-in-flight and -procs must be positive")
	}
	if o.writes && slices.Contains(o.targets, "gatekeeper") {
		return nil, errors.New("-writes: not with target gatekeeper (it runs its validating webhook only)")
	}
	if len(o.conc) == 0 && len(o.rates) == 0 && o.soak == 0 {
		return nil, errors.New("nothing to run: give -concurrency, -rate or -soak")
	}
	return o, nil
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/driftguard/driftguard\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the driftguard repository")
		}
		dir = parent
	}
}

// freePorts returns n distinct loopback ports that were free a moment
// ago, holding every listener until all are picked (one by one, the
// kernel may hand the same port out twice).
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// writeExtraPolicies writes n policies that match no request kind.
func writeExtraPolicies(dir string, n int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := range n {
		src := fmt.Sprintf(`# METADATA
# custom:
#   kinds: [BenchKind%03d]
#   operations: [CREATE, UPDATE, DELETE]
package driftguard.policies.bench_nonmatching_%03d

deny contains {"msg": "never", "field": "spec"} if input.request.name == "never-%03d"
`, i, i, i)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("bench_%03d.rego", i)), []byte(src), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// row is one line of the report.
type row struct {
	target string
	extra  int
	mode   string
	level  string
	r      *result
	late   int64
}

func run(args []string, stdout io.Writer) error {
	o, err := parse(args)
	if err != nil {
		return err
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "driftguard-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintf(os.Stderr, "bench: work directory %s\n", work)
	} else {
		defer os.RemoveAll(work)
	}
	certDir := filepath.Join(work, "certs")
	if err := certs.Generate(certDir, []string{"localhost", "127.0.0.1"}, 24*time.Hour); err != nil {
		return err
	}
	caPEM, err := os.ReadFile(filepath.Join(certDir, certs.CAFile))
	if err != nil {
		return err
	}
	bin := o.binary
	if bin == "" && slices.Contains(o.targets, "driftguard") {
		bin = filepath.Join(work, "driftguard")
		build := exec.Command("go", "build", "-o", bin, "./cmd/webhook")
		build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building driftguard: %w", err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	m, err := buildMix(root, o.variants, 1)
	if err != nil {
		return err
	}
	probes, err := gatekeeperProbes(m)
	if err != nil {
		return err
	}
	if o.only != "" {
		if m, err = m.only(o.only); err != nil {
			return err
		}
	}
	maxConc := o.maxInFlight
	for _, c := range o.conc {
		maxConc = max(maxConc, c)
	}
	client, err := newClient(caPEM, maxConc, 10*time.Second)
	if err != nil {
		return err
	}

	var rows []row
	startServer := func(target string, extra int) (*server, error) {
		ports, err := freePorts(3)
		if err != nil {
			return nil, err
		}
		port, mport, hport := ports[0], ports[1], ports[2]
		if target == "floor" {
			return start("floor", []string{self, "floor", certDir, strconv.Itoa(port)}, o.cpu, o.procs, port, "", work)
		}
		argv := []string{bin, "serve", "--cert-dir", certDir, "--host", "127.0.0.1", "--port", strconv.Itoa(port),
			"--metrics-addr", fmt.Sprintf("127.0.0.1:%d", mport), "--health-addr", fmt.Sprintf("127.0.0.1:%d", hport),
			"--reload-interval", "1h", "--metrics-secure=false"}
		if extra > 0 {
			dir := filepath.Join(work, fmt.Sprintf("extra-%d", extra))
			if err := writeExtraPolicies(dir, extra); err != nil {
				return nil, err
			}
			argv = append(argv, "--policies", dir)
		}
		return start(fmt.Sprintf("driftguard-%d", extra), argv, o.cpu, o.procs, port, fmt.Sprintf("127.0.0.1:%d", mport), work)
	}
	// every server runs from the start; each load level then loads them
	// in turn (floor, driftguard, gatekeeper, floor, ...), so that the
	// machine's drift over minutes does not favour one of them
	type target struct {
		name  string
		extra int
		srv   *server
	}
	var targets []target
	var cp *controlPlane
	var stopMu sync.Mutex
	stopAll := func() {
		stopMu.Lock()
		defer stopMu.Unlock()
		for _, t := range targets {
			t.srv.stop()
		}
		targets = nil
		cp.stop()
		cp = nil
	}
	defer stopAll()
	// an interrupted run stops its servers (and Gatekeeper's kube-apiserver
	// and etcd) instead of leaving them running
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer func() { signal.Stop(sigs); close(sigs) }()
	go func() {
		if s, ok := <-sigs; ok {
			fmt.Fprintf(os.Stderr, "bench: %v: stopping the servers\n", s)
			stopAll()
			if !o.keep {
				os.RemoveAll(work)
			}
			os.Exit(1)
		}
	}()
	if len(o.conc) > 0 || len(o.rates) > 0 {
		for _, name := range o.targets {
			extras := o.extra
			if name != "driftguard" {
				extras = []int{0}
			}
			for _, extra := range extras {
				var srv *server
				if name == "gatekeeper" {
					srv, cp, err = startGatekeeper(o, work, certDir, client, probes)
				} else {
					srv, err = startServer(name, extra)
				}
				if err != nil {
					return err
				}
				targets = append(targets, target{name: name, extra: extra, srv: srv})
			}
		}
	}
	var counter atomic.Uint64
	for _, c := range o.conc {
		for _, t := range targets {
			r, err := measure(t.srv, o.warmup, o.duration, closedLoop(client, o.urls(t.name, t.srv.port), m, c, t.name, &counter))
			if err != nil {
				return err
			}
			rows = append(rows, row{target: t.name, extra: t.extra, mode: "closed", level: fmt.Sprintf("%d conn", c), r: r})
			fmt.Fprintln(os.Stderr, rowText(rows[len(rows)-1]))
		}
	}
	for _, rate := range o.rates {
		for _, t := range targets {
			var late atomic.Int64
			r, err := measure(t.srv, o.warmup, o.duration, openLoop(client, o.urls(t.name, t.srv.port), m, rate, o.maxInFlight, t.name, &counter, &late))
			if err != nil {
				return err
			}
			rows = append(rows, row{target: t.name, extra: t.extra, mode: "open", level: fmt.Sprintf("%g/s", rate), r: r, late: late.Load()})
			fmt.Fprintln(os.Stderr, rowText(rows[len(rows)-1]))
		}
	}
	stopAll()
	// the table lists each server's rows together, in -targets order
	slices.SortStableFunc(rows, func(a, b row) int {
		if d := slices.Index(o.targets, a.target) - slices.Index(o.targets, b.target); d != 0 {
			return d
		}
		return a.extra - b.extra
	})

	var report strings.Builder
	fmt.Fprintf(&report, "Load generator: `go run ./test/bench %s`; servers pinned to CPU %d with GOMAXPROCS=%d (the load generator to another); mix: %s.\n\n",
		strings.Join(args, " "), o.cpu, o.procs, mixText(m))
	if slices.Contains(o.targets, "gatekeeper") {
		fmt.Fprintf(&report, "Gatekeeper from %s (its validating webhook, `/v1/admit`) with two constraints: Deployments carry the label `app`; only %s may change a container image of a Deployment or Pod. Its kube-apiserver and etcd run on the load generator's CPU.\n\n",
			o.gatekeeper, terraformUser)
	}
	if o.writes {
		report.WriteString("Each request is one API write: the review is sent to /mutate, then to /validate (both servers); rps, latency and CPU/req are per write.\n\n")
	}
	if len(rows) > 0 {
		fmt.Fprintf(&report, "Each run: %s measured after %s of warm-up.\n\n", o.duration, o.warmup)
	}
	if len(rows) > 0 {
		report.WriteString("| server | extra policies | load | rps | p50 | p90 | p99 | p99.9 | errors | denied | unexpected | server CPU/req | RSS |\n")
		report.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, rw := range rows {
			report.WriteString(rowMarkdown(rw) + "\n")
		}
		report.WriteString(summary(rows))
		if o.byType {
			report.WriteString(byTypeTable(rows, m))
		}
	}
	if o.soak > 0 {
		txt, err := soak(o, startServer, client, m, &counter)
		if err != nil {
			return err
		}
		report.WriteString(txt)
	}
	fmt.Fprint(stdout, report.String())
	if o.out != "" {
		return os.WriteFile(o.out, []byte(report.String()), 0o644)
	}
	for _, rw := range rows {
		if rw.r.errors() > 0 || rw.r.unexpected > 0 {
			return fmt.Errorf("%s %s: %d errors %s, %d unexpected answers (logs in %s; use -keep)", rw.target, rw.level, rw.r.errors(), topErrors(rw.r.errs, 3), rw.r.unexpected, work)
		}
	}
	return nil
}

func mixText(m *mix) string {
	var parts []string
	for _, t := range m.types {
		w := float64(t.Weight) / 10
		if len(m.types) == 1 {
			w = 100
		}
		parts = append(parts, fmt.Sprintf("%s %g%%", t.Name, w))
	}
	return strings.Join(parts, ", ")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func rowText(rw row) string {
	r := rw.r
	return fmt.Sprintf("%-10s extra=%-3d %-6s %-8s %8.0f rps  p50 %s p99 %s p99.9 %s  errors %d unexpected %d  cpu/req %.0f µs  rss %.0f MiB",
		rw.target, rw.extra, rw.mode, rw.level, r.rps(), ms(r.pct(50)), ms(r.pct(99)), ms(r.pct(99.9)), r.errors(), r.unexpected,
		float64(r.cpuPerReq())/float64(time.Microsecond), float64(r.rss)/(1<<20))
}

func rowMarkdown(rw row) string {
	r := rw.r
	extra := strconv.Itoa(rw.extra)
	if rw.target != "driftguard" {
		extra = "–"
	}
	level := rw.mode + ", " + rw.level
	if rw.late > 0 {
		level += fmt.Sprintf(" (%d started late)", rw.late)
	}
	errs := strconv.Itoa(r.errors())
	if r.errors() > 0 {
		errs += " " + topErrors(r.errs, 2)
	}
	return fmt.Sprintf("| %s | %s | %s | %.0f | %s | %s | %s | %s | %s | %d | %d | %.0f µs | %.0f MiB |",
		rw.target, extra, level, r.rps(), ms(r.pct(50)), ms(r.pct(90)), ms(r.pct(99)), ms(r.pct(99.9)), errs, r.denied, r.unexpected,
		float64(r.cpuPerReq())/float64(time.Microsecond), float64(r.rss)/(1<<20))
}

// byTypeTable: p50 / p99 per review type and run.
func byTypeTable(rows []row, m *mix) string {
	var b strings.Builder
	b.WriteString("\nLatency by review type (p50 / p99):\n\n| review type |")
	for _, rw := range rows {
		fmt.Fprintf(&b, " %s %s |", rw.target, rw.level)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(rows)) + "\n")
	for _, t := range m.types {
		fmt.Fprintf(&b, "| %s |", t.Name)
		for _, rw := range rows {
			fmt.Fprintf(&b, " %s / %s |", ms(rw.r.typePct(t.Name, 50)), ms(rw.r.typePct(t.Name, 99)))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// summary compares driftguard with the floor and with Gatekeeper at the
// same load, and driftguard's cost across policy counts.
func summary(rows []row) string {
	var b strings.Builder
	find := func(target string, extra int, mode, level string) *result {
		for _, rw := range rows {
			if rw.target == target && rw.extra == extra && rw.mode == mode && rw.level == level {
				return rw.r
			}
		}
		return nil
	}
	b.WriteString("\n")
	for _, rw := range rows {
		if rw.target != "floor" || rw.mode != "closed" {
			continue
		}
		if d := find("driftguard", 0, "closed", rw.level); d != nil {
			fmt.Fprintf(&b, "- %s: driftguard %.0f rps = %.0f%% of the floor's %.0f rps; CPU per request %.0f µs vs %.0f µs.\n",
				rw.level, d.rps(), 100*d.rps()/rw.r.rps(), rw.r.rps(),
				float64(d.cpuPerReq())/float64(time.Microsecond), float64(rw.r.cpuPerReq())/float64(time.Microsecond))
		}
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	for _, rw := range rows {
		if rw.target != "gatekeeper" || rw.mode != "closed" {
			continue
		}
		g := rw.r
		if d := find("driftguard", 0, "closed", rw.level); d != nil {
			fmt.Fprintf(&b, "- %s: driftguard/Gatekeeper: %.0f vs %.0f rps (%.2f), CPU per request %.0f vs %.0f µs (%.2f), p50 %s vs %s, p99 %s vs %s.\n",
				rw.level, d.rps(), g.rps(), d.rps()/g.rps(), us(d.cpuPerReq()), us(g.cpuPerReq()), float64(d.cpuPerReq())/float64(g.cpuPerReq()),
				ms(d.pct(50)), ms(g.pct(50)), ms(d.pct(99)), ms(g.pct(99)))
		}
		if f := find("floor", 0, "closed", rw.level); f != nil {
			fmt.Fprintf(&b, "- %s: Gatekeeper %.0f rps = %.0f%% of the floor's %.0f rps; CPU per request %.0f µs vs %.0f µs.\n",
				rw.level, g.rps(), 100*g.rps()/f.rps(), f.rps(), us(g.cpuPerReq()), us(f.cpuPerReq()))
		}
	}
	for _, rw := range rows {
		if rw.target != "driftguard" || rw.mode != "closed" || rw.extra == 0 {
			continue
		}
		if base := find("driftguard", 0, "closed", rw.level); base != nil {
			fmt.Fprintf(&b, "- %d extra non-matching policies, %s: CPU per request %.0f µs (%+.0f%% vs none), RSS %.0f MiB (none: %.0f MiB).\n", rw.extra, rw.level,
				float64(rw.r.cpuPerReq())/float64(time.Microsecond), 100*(float64(rw.r.cpuPerReq())/float64(base.cpuPerReq())-1),
				float64(rw.r.rss)/(1<<20), float64(base.rss)/(1<<20))
		}
	}
	return b.String()
}

// soak runs driftguard under open-loop load and samples its memory.
func soak(o *options, startServer func(string, int) (*server, error), client *http.Client, m *mix, counter *atomic.Uint64) (string, error) {
	srv, err := startServer("driftguard", 0)
	if err != nil {
		return "", err
	}
	defer srv.stop()
	urls := o.urls("driftguard", srv.port)
	var b strings.Builder
	fmt.Fprintf(&b, "\nSoak: driftguard, open loop at %g/s for %s, sampled every %s.\n\n", o.soakRate, o.soak, o.soakEvery)
	b.WriteString("| elapsed | requests | errors | p99 | RSS | Go heap in use |\n|---|---|---|---|---|---|\n")
	var rss, heap []float64
	total, errs := 0, 0
	begin := time.Now()
	for time.Since(begin) < o.soak {
		var late atomic.Int64
		r, err := measure(srv, 0, min(o.soakEvery, o.soak-time.Since(begin)), openLoop(client, urls, m, o.soakRate, o.maxInFlight, "driftguard", counter, &late))
		if err != nil {
			return "", err
		}
		total += r.n
		errs += r.errors()
		h, err := heapInUse(srv.metrics)
		if err != nil {
			return "", err
		}
		rss = append(rss, float64(r.rss)/(1<<20))
		heap = append(heap, h/(1<<20))
		fmt.Fprintf(&b, "| %s | %d | %d | %s | %.1f MiB | %.1f MiB |\n", time.Since(begin).Round(time.Second), total, errs, ms(r.pct(99)), rss[len(rss)-1], heap[len(heap)-1])
		fmt.Fprintf(os.Stderr, "soak %s: %d requests, %d errors, RSS %.1f MiB, heap %.1f MiB\n", time.Since(begin).Round(time.Second), total, errs, rss[len(rss)-1], heap[len(heap)-1])
	}
	if n := len(rss); n >= 4 {
		q := n / 4
		fmt.Fprintf(&b, "\nRSS: mean of the first quarter of samples %.1f MiB, of the last quarter %.1f MiB; Go heap in use %.1f → %.1f MiB.\n",
			mean(rss[:q]), mean(rss[n-q:]), mean(heap[:q]), mean(heap[n-q:]))
	}
	return b.String(), nil
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// heapInUse reads go_memstats_heap_inuse_bytes from driftguard's /metrics.
func heapInUse(addr string) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(l, "go_memstats_heap_inuse_bytes "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, errors.New("no go_memstats_heap_inuse_bytes in driftguard's /metrics")
}
