package main

import (
	"strings"
	"testing"
)

// driftguard eval shows, from the command line, the enforcement holes of
// issue 13 closed: a policy that reaches the network does not load.
func TestEvalEnforcement(t *testing.T) {
	bin := buildCLI(t)
	review := "test/fixtures/reviews/set-image-alice.json"

	t.Run("a policy calling http.send does not load", func(t *testing.T) {
		dir := t.TempDir()
		p := writeFile(t, dir, "phone_home.rego", `package driftguard.policies.phone_home

deny contains "upstream said no" if {
	resp := http.send({"method": "GET", "url": "http://203.0.113.1/allow"})
	resp.status_code != 200
}
`)
		r := runCLI(t, bin, "", "eval", "-f", review, "--policies", dir)
		want := p + ":4: http.send is not allowed in driftguard policies: they run on the API server's request path and may not reach the network or the runtime"
		if r.code != 2 || !strings.Contains(r.stderr, want) {
			t.Errorf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, want)
		}
	})
}
