package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// dripper sends the headers of a review and then one byte of its body
// every 200ms, as a slow or hostile client would, until the server closes
// the connection; it returns how long the connection was held.
func dripper(t *testing.T, addr string, held chan<- time.Duration) {
	start := time.Now()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a hostile client
	if err != nil {
		t.Errorf("dripper: %v", err)
		held <- 0
		return
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
	closed := make(chan struct{})
	go func() {
		// the server answers (400, reading the body timed out) and/or closes
		_, _ = io.Copy(io.Discard, c)
		close(closed)
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-closed:
			held <- time.Since(start)
			return
		case <-tick.C:
			if _, err := c.Write([]byte(" ")); err != nil {
				<-closed
				held <- time.Since(start)
				return
			}
			if time.Since(start) > 30*time.Second {
				held <- time.Since(start)
				return
			}
		}
	}
}

// A client that drips its body is cut off at --read-timeout while other
// clients are answered, and the in-flight gauge returns to 0.
func TestServeCutsOffDrippingBodies(t *testing.T) {
	bin := serveBinary(t)
	s := startServer(t, bin, "", nil, "--read-timeout", "2s")
	const n = 30
	held := make(chan time.Duration, n)
	for range n {
		go dripper(t, s.webhook, held)
	}
	time.Sleep(500 * time.Millisecond)
	if v, _ := s.metricValue(`driftguard_admission_in_flight_requests{webhook="validate"} `); v < n/2 {
		t.Errorf("in flight while dripping = %v, want the drippers counted (>= %d)", v, n/2)
	}
	// others are served meanwhile
	for i := range 10 {
		if _, _, err := s.review(s.client, deploymentReview(t)); err != nil {
			t.Fatalf("review %d while %d clients drip: %v", i, n, err)
		}
	}
	for range n {
		if d := <-held; d > 5*time.Second {
			t.Errorf("a dripping client was held %s with --read-timeout 2s", d.Round(time.Millisecond))
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, ok := s.metricValue(`driftguard_admission_in_flight_requests{webhook="validate"} `)
		if ok && v == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("in-flight gauge %v after the drippers were cut off, want 0", v)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if v, _ := s.metricValue(`driftguard_admission_bad_requests_total{reason="malformed",webhook="validate"} `); v < n {
		t.Errorf("cut-off bodies counted as bad requests: %v, want %d", v, n)
	}
}

// --max-connections holds: a connection over the cap waits until one closes.
func TestServeConnectionCap(t *testing.T) {
	bin := serveBinary(t)
	s := startServer(t, bin, "", nil, "--max-connections", "4", "--read-timeout", "20s")
	var conns []*tls.Conn
	for i := range 4 {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", s.webhook, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // reachability only
		if err != nil {
			t.Fatalf("connection %d under the cap: %v", i, err)
		}
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	extra := func() error {
		raw, err := net.DialTimeout("tcp", s.webhook, 2*time.Second)
		if err != nil {
			return err
		}
		defer raw.Close()
		_ = raw.SetDeadline(time.Now().Add(1500 * time.Millisecond))
		return tls.Client(raw, &tls.Config{InsecureSkipVerify: true}).Handshake() //nolint:gosec // reachability only
	}
	if err := extra(); err == nil {
		t.Fatal("a fifth connection was served with --max-connections 4")
	}
	_ = conns[0].Close()
	conns = conns[1:]
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := extra()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection accepted after one of 4 closed: %v", err)
		}
	}
}

// The load test of keep-alive traffic as kube-apiserver sends it: a few
// persistent connections, bursts of reviews, and idle gaps longer than
// the read and write deadlines. Deadlines are per request, so not one
// request fails and the connections are reused across the gaps.
func TestServeKeepAliveTrafficUnaffectedByDeadlines(t *testing.T) {
	bin := serveBinary(t)
	s := startServer(t, bin, "", nil, "--read-timeout", "1s", "--write-timeout", "2s")
	const workers, bursts, perBurst = 4, 3, 40
	gap := 2500 * time.Millisecond // longer than both deadlines
	tr := &http.Transport{
		TLSClientConfig:     s.client.Transport.(*http.Transport).TLSClientConfig.Clone(),
		MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers,
		IdleConnTimeout: 90 * time.Second, // kube-apiserver's
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	body := deploymentReview(t)
	var total, failed, newConns atomic.Int64
	var mu sync.Mutex
	var errs []string
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		if !i.Reused {
			newConns.Add(1)
		}
	}}
	for b := range bursts {
		if b > 0 {
			time.Sleep(gap)
		}
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range perBurst {
					req, _ := http.NewRequest(http.MethodPost, "https://"+s.webhook+"/validate", strings.NewReader(string(body)))
					req.Header.Set("Content-Type", "application/json")
					req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
					total.Add(1)
					resp, err := c.Do(req)
					if err == nil {
						var line string
						line, err = bufio.NewReader(resp.Body).ReadString('\n')
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if err == io.EOF {
							err = nil
						}
						if err == nil && (resp.StatusCode != 200 || !strings.Contains(line, `"allowed":false`)) {
							err = fmt.Errorf("HTTP %d %.200s", resp.StatusCode, line)
						}
					}
					if err != nil {
						failed.Add(1)
						mu.Lock()
						if len(errs) < 10 {
							errs = append(errs, err.Error())
						}
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
	}
	t.Logf("%d requests in %d bursts over %d keep-alive connections, %d new connections, %d failed", total.Load(), bursts, workers, newConns.Load(), failed.Load())
	if failed.Load() != 0 {
		t.Fatalf("%d of %d keep-alive requests failed: %v", failed.Load(), total.Load(), errs)
	}
	if newConns.Load() > workers {
		t.Errorf("%d connections opened for %d workers: idle keep-alive connections were closed across the gaps", newConns.Load(), workers)
	}
}
