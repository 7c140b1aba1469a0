package config

import (
	"strings"
	"testing"
	"time"
)

func TestRevertsDefaultsAndValidation(t *testing.T) {
	c, err := Parse(DefaultYAML())
	if err != nil {
		t.Fatal(err)
	}
	r := c.Audit.Reverts
	if !r.On() || r.Window.Duration != 10*time.Minute || r.MaxTracked != 20000 {
		t.Fatalf("defaults %+v", r)
	}
	found := false
	for _, m := range r.Reverters {
		found = found || m == "metacontroller"
	}
	if !found {
		t.Fatalf("default reverters %v lack metacontroller", r.Reverters)
	}
	for _, bad := range []string{
		"audit:\n  reverts: {window: 100ms}\n",
		"audit:\n  reverts: {window: 48h}\n",
		"audit:\n  reverts: {maxTracked: -1}\n",
		"audit:\n  reverts: {reverters: [\"\"]}\n",
	} {
		if _, err := Parse([]byte(bad)); err == nil || !strings.Contains(err.Error(), "audit.reverts.") {
			t.Errorf("%q: error %v, want one naming audit.reverts", bad, err)
		}
	}
	off, err := Parse([]byte("audit:\n  reverts: {enabled: false}\n"))
	if err != nil || off.Audit.Reverts.On() {
		t.Fatalf("enabled: false -> %v, %v", err, off.Audit.Reverts.On())
	}
}
