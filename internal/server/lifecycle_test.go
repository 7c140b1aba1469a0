package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/driftguard/driftguard/internal/certs"
	"github.com/driftguard/driftguard/test/freeport"
)

// devOptions are the serve flags' defaults with --dev on free local ports.
func devOptions(t *testing.T) Options {
	t.Helper()
	dir := t.TempDir()
	if err := certs.Generate(dir, []string{"127.0.0.1"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	addrs := freeport.Addrs(t, 3)
	_, port, _ := net.SplitHostPort(addrs[0])
	p, _ := strconv.Atoi(port)
	return Options{
		Dev: true, CertDir: dir, Host: "127.0.0.1", Port: p, MetricsAddr: addrs[1], HealthAddr: addrs[2],
		ReloadInterval: time.Hour, ReadTimeout: 10 * time.Second, WriteTimeout: 35 * time.Second,
		IdleTimeout: 120 * time.Second, MaxConnections: 1024,
	}
}

// start runs Run in the background; the returned channel has its result.
func start(t *testing.T, ctx context.Context, o Options) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o) }()
	return done
}

func readyz(o Options) int {
	resp, err := http.Get("http://" + o.HealthAddr + "/readyz")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	return resp.StatusCode
}

// validate posts the 8 KB Deployment review to /validate.
func validate(t *testing.T, o Options) error {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("..", "..", "test", "fixtures", "reviews", "deployment-update-8k.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}} //nolint:gosec // a local test server
	resp, err := c.Post("https://"+net.JoinHostPort(o.Host, strconv.Itoa(o.Port))+"/validate", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"allowed":false`) {
		return errors.New("unexpected answer: " + resp.Status + " " + string(b))
	}
	return nil
}

func waitReady(t *testing.T, o Options, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for readyz(o) != http.StatusOK {
		select {
		case err := <-done:
			t.Fatalf("Run returned before it was ready: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("not ready within 60s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A component that fails ends Run with its error: here the health
// listener, whose address is taken, while the webhook server is fine.
func TestRunEndsWhenAComponentFails(t *testing.T) {
	o := devOptions(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	o.HealthAddr = taken.Addr().String()
	o.ShutdownDelay = time.Hour // not taken after a failure
	select {
	case err := <-start(t, context.Background(), o):
		if err == nil || !strings.Contains(err.Error(), "health listener "+o.HealthAddr) {
			t.Fatalf("Run returned %v, want the health listener's error", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Run still running 60s after its health listener failed")
	}
}

// The shutdown drains in order: /readyz turns 503 at once, the webhook
// keeps answering during --shutdown-delay, then it stops, the side
// listeners close and Run returns nil.
func TestRunShutdownOrder(t *testing.T) {
	o := devOptions(t)
	o.ShutdownDelay = 5 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := start(t, ctx, o)
	waitReady(t, o, done)
	if err := validate(t, o); err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.Now().Add(2 * time.Second)
	for readyz(o) != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not turn 503 after the shutdown started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := validate(t, o); err != nil {
		t.Errorf("the webhook stopped answering during --shutdown-delay: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after the end of its context: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return within 60s of the end of its context")
	}
	if err := validate(t, o); err == nil {
		t.Error("the webhook still answers after Run returned")
	}
	if code := readyz(o); code != 0 {
		t.Errorf("the health listener still answers (%d) after Run returned", code)
	}
}
