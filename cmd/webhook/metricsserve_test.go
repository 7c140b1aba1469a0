package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/driftguard/driftguard/internal/certs"
)

// Without --cluster there is no API server to authenticate scrapers, so
// the default --metrics-secure is refused with a clear error (never a
// silent fall back to plain HTTP); --metrics-secure=false or --dev serve
// plain HTTP.
func TestServeMetricsSecureNeedsCluster(t *testing.T) {
	bin := serveBinary(t)
	dir := t.TempDir()
	if err := certs.Generate(dir, []string{"127.0.0.1"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"serve", "--cert-dir", dir},
		{"serve", "--dev", "--cert-dir", dir, "--metrics-secure=true"},
	} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err == nil {
			t.Fatalf("%v: started", args)
		}
		if !strings.Contains(string(out), "--metrics-secure=false") || !strings.Contains(string(out), "needs --cluster") {
			t.Errorf("%v: the error does not explain itself:\n%s", args, out)
		}
	}
}
