package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/driftguard/driftguard/internal/certs"
)

// --narrow-webhooks writes the webhook configurations that --cert-rotation
// names and manages; without it the flag is refused, not ignored.
func TestServeNarrowWebhooksNeedsCertRotation(t *testing.T) {
	bin := serveBinary(t)
	dir := t.TempDir()
	if err := certs.Generate(dir, []string{"127.0.0.1"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// free ports: a serve that wrongly starts is killed at the timeout
	out, err := exec.CommandContext(ctx, bin, "serve", "--dev", "--cert-dir", dir, "--narrow-webhooks",
		"--port", "0", "--metrics-addr", "127.0.0.1:0", "--health-addr", "127.0.0.1:0").CombinedOutput()
	if err == nil {
		t.Fatal("serve --narrow-webhooks without --cert-rotation started")
	}
	if !strings.Contains(string(out), "--narrow-webhooks needs --cert-rotation") {
		t.Errorf("the error does not explain itself:\n%s", out)
	}
}
