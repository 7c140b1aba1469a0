package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// driftguard eval shows, from the command line, how crafted reviews that
// used to walk around enforcement are answered now.
func TestEvalShowsEnforcementHoles(t *testing.T) {
	bin := buildCLI(t)
	reviews := filepath.Join("test", "fixtures", "reviews")
	cases := []struct {
		name, review string
		wants        []string
	}{
		{"a break-glass reason left by an earlier request does not count", "break-glass-inherited.json", []string{
			"answer:    denied",
			`the break-glass reason "INC-1: hotfix during the outage of last week" on the object was set by an earlier request`,
			"bob is in break-glass group driftguard:break-glass: to push this change through, set the annotation driftguard.io/break-glass",
			"owned_fields             enforce  deny",
		}},
		{"managedFields of the stored object that cannot be parsed", "managedfields-unparseable.json", []string{
			"answer:    denied",
			"UPDATE of Deployment tenant-a/api was not reviewed: oldObject.metadata.managedFields cannot be parsed (managedFields[0] (Terraform): fieldsV1:",
			"so driftguard cannot tell who owns the fields this request changes; failurePolicy is deny",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runCLI(t, bin, "", "eval", "-f", filepath.Join(reviews, c.review))
			if r.code != 0 {
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			for _, w := range c.wants {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, r.stdout)
				}
			}
		})
	}
}
