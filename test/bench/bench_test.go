package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// The test binary doubles as the floor server (run re-executes itself).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "floor" {
		if err := runFloor(os.Args[2:]); err != nil {
			os.Stderr.WriteString("floor: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestMix(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	m, err := buildMix(root, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	total := 0
	for _, rt := range m.types {
		total += rt.Weight
		for i, b := range rt.bodies {
			var rv struct {
				APIVersion string `json:"apiVersion"`
				Request    struct {
					UID       string          `json:"uid"`
					Operation string          `json:"operation"`
					Object    json.RawMessage `json:"object"`
					OldObject json.RawMessage `json:"oldObject"`
				} `json:"request"`
			}
			if err := json.Unmarshal(b, &rv); err != nil {
				t.Fatalf("%s: %v", rt.Name, err)
			}
			if rv.APIVersion != "admission.k8s.io/v1" || rv.Request.UID != rt.uids[i] || seen[rv.Request.UID] {
				t.Errorf("%s #%d: apiVersion %q uid %q (want %q, unique)", rt.Name, i, rv.APIVersion, rv.Request.UID, rt.uids[i])
			}
			seen[rv.Request.UID] = true
			if rv.Request.Operation == "UPDATE" && bytes.Equal(rv.Request.Object, rv.Request.OldObject) {
				t.Errorf("%s: an UPDATE without a change", rt.Name)
			}
		}
		if rt.Name == "configmap-update-500kb" && len(rt.bodies[0]) < 900_000 {
			t.Errorf("the large review is %d bytes, want a 500 KB object in object and oldObject", len(rt.bodies[0]))
		}
	}
	if total != 1000 {
		t.Errorf("weights add up to %d", total)
	}
}

// A short run of both servers: no errors, every answer as expected
// (driftguard denies the hand edit, the dry-run and the latest tag; the
// floor allows everything), and a report with a row per run.
func TestShortRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs two servers")
	}
	var out bytes.Buffer
	if err := run([]string{"-duration", "1500ms", "-warmup", "300ms", "-concurrency", "2", "-rate", "100",
		"-extra-policies", "0,20", "-variants", "8", "-cpu", "-1"}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	report := out.String()
	t.Log("\n" + report)
	for _, want := range []string{
		"| floor | – | closed, 2 conn |", "| floor | – | open, 100/s |",
		"| driftguard | 0 | closed, 2 conn |", "| driftguard | 20 | open, 100/s |",
		"- 2 conn: driftguard", "- 20 extra non-matching policies, 2 conn",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// driftguard denied some requests, the floor none
	for _, l := range strings.Split(report, "\n") {
		cells := strings.Split(l, "|")
		if len(cells) < 12 {
			continue
		}
		server, denied := strings.TrimSpace(cells[1]), strings.TrimSpace(cells[10])
		if server == "floor" && denied != "0" || server == "driftguard" && denied == "0" {
			t.Errorf("%s denied %s requests: %s", server, denied, l)
		}
	}
}

func TestParseRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-targets", "nginx"}, {"-concurrency", "0"}, {"-concurrency", "x"}, {"-rate", "-5"},
		{"-concurrency", "", "-rate", ""}, {"-duration", "0s"},
		{"-targets", "floor,floor"}, {"-targets", "floor,gatekeeper", "-writes"},
	} {
		if _, err := parse(args); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}

// -writes: each review goes to /mutate and then /validate, as for an API
// write. run fails on any error or unexpected answer (a mutating webhook
// that denies counts as one).
func TestShortRunWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs two servers")
	}
	var out bytes.Buffer
	if err := run([]string{"-writes", "-duration", "1s", "-warmup", "200ms", "-concurrency", "2",
		"-variants", "8", "-cpu", "-1"}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	report := out.String()
	t.Log("\n" + report)
	for _, want := range []string{"Each request is one API write", "| floor | – | closed, 2 conn |", "| driftguard | 0 | closed, 2 conn |"} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}
