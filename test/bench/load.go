package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// client posts reviews over HTTPS/1.1 with keep-alive connections, as
// kube-apiserver's webhook client does.
func newClient(caPEM []byte, conns int, timeout time.Duration) (*http.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no CA certificate")
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12},
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     0,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1 only
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

// outcome of one request.
type outcome struct {
	typ        string
	latency    time.Duration
	err        string // "" when answered
	allowed    bool
	unexpected bool // answered, but not what the target should answer
}

type reviewAnswer struct {
	Response struct {
		UID     string `json:"uid"`
		Allowed bool   `json:"allowed"`
	} `json:"response"`
}

func post(ctx context.Context, c *http.Client, url string, body []byte) (reviewAnswer, error) {
	var a reviewAnswer
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return a, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return a, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return a, err
	}
	if resp.StatusCode != http.StatusOK {
		return a, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return a, json.Unmarshal(b, &a)
}

// one sends a review to each url in turn (the mutating webhook's, then
// the validating webhook's for an API write) and checks every answer; the
// latency is the whole sequence's. Only the last answer may deny: a
// mutating webhook that denies is unexpected. The last answer must be
// the one target gives (reviewType.want).
func one(ctx context.Context, c *http.Client, urls []string, t *reviewType, body []byte, uid string, target string) outcome {
	start := time.Now()
	o := outcome{typ: t.Name}
	for i, url := range urls {
		a, err := post(ctx, c, url, body)
		if err == nil && a.Response.UID != uid {
			err = errors.New("uid mismatch")
		}
		if err != nil {
			o.err = err.Error()
			break
		}
		if i < len(urls)-1 {
			o.unexpected = o.unexpected || !a.Response.Allowed
			continue
		}
		o.allowed = a.Response.Allowed
		o.unexpected = o.unexpected || a.Response.Allowed != t.want(target)
	}
	o.latency = time.Since(start)
	return o
}

// result of one run.
type result struct {
	n          int
	errs       map[string]int
	denied     int
	unexpected int
	lat        []time.Duration // sorted
	elapsed    time.Duration
	serverCPU  time.Duration
	rss        int64
	lateStarts int // open loop: requests that could not start on time (all workers busy)
	byType     map[string][]time.Duration
}

func (r *result) add(o outcome) {
	r.n++
	if o.err != "" {
		if r.errs == nil {
			r.errs = map[string]int{}
		}
		r.errs[o.err]++
		return
	}
	if !o.allowed {
		r.denied++
	}
	if o.unexpected {
		r.unexpected++
	}
	r.lat = append(r.lat, o.latency)
	if r.byType == nil {
		r.byType = map[string][]time.Duration{}
	}
	r.byType[o.typ] = append(r.byType[o.typ], o.latency)
}

// typePct is the p-th percentile latency of one review type.
func (r *result) typePct(typ string, p float64) time.Duration {
	l := r.byType[typ]
	if len(l) == 0 {
		return 0
	}
	i := int(float64(len(l))*p/100+0.5) - 1
	return l[min(max(i, 0), len(l)-1)]
}

func (r *result) errors() int {
	n := 0
	for _, v := range r.errs {
		n += v
	}
	return n
}

func (r *result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(float64(len(r.lat))*p/100+0.5) - 1
	return r.lat[min(max(i, 0), len(r.lat)-1)]
}

func (r *result) rps() float64 { return float64(r.n) / r.elapsed.Seconds() }

func (r *result) cpuPerReq() time.Duration {
	if r.n == 0 {
		return 0
	}
	return r.serverCPU / time.Duration(r.n)
}

// measure runs load for d after warm-up, reading the server's CPU time
// around the measured part.
func measure(srv *server, warmup, d time.Duration, load func(until time.Time, record bool) []outcome) (*result, error) {
	if warmup > 0 {
		load(time.Now().Add(warmup), false)
	}
	before, err := readProc(srv.pid())
	if err != nil {
		return nil, err
	}
	start := time.Now()
	outs := load(start.Add(d), true)
	elapsed := time.Since(start)
	after, err := readProc(srv.pid())
	if err != nil {
		return nil, err
	}
	r := &result{elapsed: elapsed, serverCPU: after.cpu - before.cpu, rss: after.rss}
	for _, o := range outs {
		r.add(o)
	}
	slices.Sort(r.lat)
	for _, l := range r.byType {
		slices.Sort(l)
	}
	return r, nil
}

// closedLoop: conc workers, each sending its next request when the last
// one is answered.
func closedLoop(c *http.Client, urls []string, m *mix, conc int, target string, counter *atomic.Uint64) func(time.Time, bool) []outcome {
	return func(until time.Time, record bool) []outcome {
		var mu sync.Mutex
		var all []outcome
		var wg sync.WaitGroup
		for range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []outcome
				for time.Now().Before(until) {
					t, body, uid := m.next(counter.Add(1))
					o := one(context.Background(), c, urls, t, body, uid, target)
					if record {
						mine = append(mine, o)
					}
				}
				mu.Lock()
				all = append(all, mine...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		return all
	}
}

// openLoop: requests start at a fixed rate whatever the answers do; the
// latency counts from the scheduled start (no coordinated omission). At
// most maxInFlight run at once; a request that finds them all busy
// starts late, and that lateness is part of its latency.
func openLoop(c *http.Client, urls []string, m *mix, rate float64, maxInFlight int, target string, counter *atomic.Uint64, late *atomic.Int64) func(time.Time, bool) []outcome {
	return func(until time.Time, record bool) []outcome {
		interval := time.Duration(float64(time.Second) / rate)
		sem := make(chan struct{}, maxInFlight)
		var mu sync.Mutex
		var all []outcome
		var wg sync.WaitGroup
		start := time.Now()
		for i := 0; ; i++ {
			at := start.Add(time.Duration(i) * interval)
			if !at.Before(until) {
				break
			}
			if d := time.Until(at); d > 0 {
				time.Sleep(d)
			}
			select {
			case sem <- struct{}{}:
			default:
				late.Add(1)
				sem <- struct{}{}
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				t, body, uid := m.next(counter.Add(1))
				o := one(context.Background(), c, urls, t, body, uid, target)
				o.latency = time.Since(at)
				if record {
					mu.Lock()
					all = append(all, o)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return all
	}
}

// topErrors formats the most frequent errors.
func topErrors(errs map[string]int, n int) string {
	type kv struct {
		k string
		v int
	}
	var l []kv
	for k, v := range errs {
		l = append(l, kv{k, v})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v })
	var out []string
	for i, x := range l {
		if i == n {
			break
		}
		out = append(out, fmt.Sprintf("%dx %s", x.v, x.k))
	}
	return fmt.Sprint(out)
}
