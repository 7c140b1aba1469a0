package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestServeLogFormatRejectsUnknown(t *testing.T) {
	bin := buildCLI(t)
	r := runCLI(t, bin, "", "serve", "--dev", "--log-format", "xml")
	if r.code != 2 || !strings.Contains(r.stderr, `--log-format "xml": want text or json`) {
		t.Fatalf("exit %d, want 2 and the allowed values\n%s", r.code, r.stderr)
	}
}

// decisionLine waits for the server's "admission decision" line.
func decisionLine(t *testing.T, s *server) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, l := range strings.Split(s.stderr.String(), "\n") {
			if strings.Contains(l, "admission decision") {
				return l
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no admission decision line:\n%s", s.stderr.String())
	return ""
}

// TestServeLogFormat: --log-format json writes every line as one JSON
// object (the decision line with its keys); the default, text, writes
// zap's console lines.
func TestServeLogFormat(t *testing.T) {
	bin := serveBinary(t)
	t.Run("json", func(t *testing.T) {
		s := startServer(t, bin, "", nil, "--log-format", "json")
		if resp, _, err := s.review(s.client, deploymentReview(t)); err != nil || resp.Allowed {
			t.Fatalf("want the denial: %v %+v", err, resp)
		}
		l := decisionLine(t, s)
		for _, line := range strings.Split(strings.TrimSpace(s.stderr.String()), "\n") {
			if !json.Valid([]byte(line)) {
				t.Errorf("not one JSON object per line: %q", line)
			}
		}
		var m map[string]any
		_ = json.Unmarshal([]byte(l), &m)
		if m["decision"] != "deny" || m["user"] != "alice" || m["kind"] != "Deployment" || m["uid"] != "3f1c9b0e-5b7a-4d5e-8c1a-2f0e9d8c7b6a" {
			t.Errorf("decision line %s", l)
		}
		// RFC 3339 times, as serve wrote before --log-format existed
		if ts, _ := m["ts"].(string); ts == "" {
			t.Errorf("ts is %v (%T), want an RFC 3339 time", m["ts"], m["ts"])
		} else if _, err := time.Parse(time.RFC3339, ts); err != nil {
			t.Errorf("ts %q: %v", ts, err)
		}
	})
	t.Run("text", func(t *testing.T) {
		s := startServer(t, bin, "", nil)
		if resp, _, err := s.review(s.client, deploymentReview(t)); err != nil || resp.Allowed {
			t.Fatalf("want the denial: %v %+v", err, resp)
		}
		l := decisionLine(t, s)
		if json.Valid([]byte(l)) || !strings.Contains(l, "\tadmission decision\t") || !strings.Contains(l, `"decision": "deny"`) {
			t.Errorf("text decision line %q", l)
		}
	})
}
