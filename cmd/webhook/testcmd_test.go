package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// repoDir is the repository root (tests run the binary from there).
func repoDir() string {
	_, f, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(f), "..", "..")
}

// buildCLI builds the driftguard binary into a temporary directory.
func buildCLI(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "driftguard")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join(repoDir(), "cmd", "webhook")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the binary in the repository root.
func runCLI(t *testing.T, bin string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = repoDir()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return result{code, out.String(), errb.String()}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// failingSuite has one passing and one deliberately failing case, using
// the repository's real fixtures by absolute path.
func failingSuite(t *testing.T) string {
	dir := t.TempDir()
	fx := filepath.Join(repoDir(), "test", "fixtures", "managedfields")
	writeFile(t, dir, "ci.suite.yaml", `name: ci
cases:
  - name: alice is denied
    oldObject: `+filepath.Join(fx, "deployment-terraform.json")+`
    object: `+filepath.Join(fx, "deployment-terraform-then-kubectl-set.json")+`
    userInfo: {username: alice, groups: [devs]}
    expect:
      allowed: false
      message: "is owned by Terraform"
  - name: deliberately wrong
    oldObject: `+filepath.Join(fx, "deployment-terraform.json")+`
    object: `+filepath.Join(fx, "deployment-terraform-then-kubectl-set.json")+`
    userInfo: {username: alice, groups: [devs]}
    expect:
      allowed: true
`)
	return dir
}

func TestTestCommand(t *testing.T) {
	bin := buildCLI(t)

	t.Run("bundled policies and suites pass", func(t *testing.T) {
		r := runCLI(t, bin, "", "test", "policies")
		if r.code != 0 {
			t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		for _, w := range []string{"PASS  Rego tests:", "owned_fields (policies/suites/owned-fields.suite.yaml)", "PASS  s3 alice sets the Terraform-owned image"} {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("output lacks %q:\n%s", w, r.stdout)
			}
		}
	})

	t.Run("a failing case fails the run", func(t *testing.T) {
		dir := failingSuite(t)
		r := runCLI(t, bin, "", "test", "--no-rego-tests", dir)
		if r.code != 1 {
			t.Fatalf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		for _, w := range []string{"PASS  alice is denied", "FAIL  deliberately wrong", "ci.suite.yaml:10", "allowed: got false, want true", "FAIL  Rego tests: none; fixture cases: 1 passed, 1 failed"} {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("output lacks %q:\n%s", w, r.stdout)
			}
		}
	})

	t.Run("junit", func(t *testing.T) {
		dir := failingSuite(t)
		r := runCLI(t, bin, "", "test", dir, "--output", "junit") // flags after the directory
		if r.code != 1 {
			t.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
		}
		var x struct {
			XMLName  xml.Name `xml:"testsuites"`
			Tests    int      `xml:"tests,attr"`
			Failures int      `xml:"failures,attr"`
			Errors   int      `xml:"errors,attr"`
			Suites   []struct {
				Name     string `xml:"name,attr"`
				Tests    int    `xml:"tests,attr"`
				Failures int    `xml:"failures,attr"`
				Cases    []struct {
					Name    string `xml:"name,attr"`
					Failure *struct {
						Message string `xml:"message,attr"`
						Text    string `xml:",chardata"`
					} `xml:"failure"`
				} `xml:"testcase"`
			} `xml:"testsuite"`
		}
		if err := xml.Unmarshal([]byte(r.stdout), &x); err != nil {
			t.Fatalf("not XML: %v\n%s", err, r.stdout)
		}
		if x.Failures != 1 || x.Errors != 0 || x.Tests < 60 {
			t.Errorf("totals tests=%d failures=%d errors=%d", x.Tests, x.Failures, x.Errors)
		}
		cases, failures := 0, 0
		var ci bool
		for _, s := range x.Suites {
			if len(s.Cases) != s.Tests {
				t.Errorf("suite %s: tests=%d, %d testcases", s.Name, s.Tests, len(s.Cases))
			}
			cases += len(s.Cases)
			for _, c := range s.Cases {
				if c.Failure != nil {
					failures++
					if c.Name != "deliberately wrong" || !strings.Contains(c.Failure.Message, "allowed: got false, want true") {
						t.Errorf("failure %s: %q", c.Name, c.Failure.Message)
					}
				}
			}
			if s.Name == "ci" {
				ci = true
				if s.Tests != 2 || s.Failures != 1 {
					t.Errorf("suite ci: tests=%d failures=%d", s.Tests, s.Failures)
				}
			}
		}
		if !ci || cases != x.Tests || failures != 1 {
			t.Errorf("suite ci found %v, %d testcases (tests=%d), %d failures", ci, cases, x.Tests, failures)
		}
	})

	t.Run("json", func(t *testing.T) {
		dir := failingSuite(t)
		r := runCLI(t, bin, "", "test", "-o", "json", "--run", "^ci/", dir)
		if r.code != 1 {
			t.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
		}
		var j struct {
			Passed bool `json:"passed"`
			Counts struct{ Tests, Passed, Failed int }
			Suites []struct {
				Name  string
				Kind  string
				Cases []struct {
					Name, Status, Reason string
					Got                  *struct{ Allowed bool }
				}
			}
		}
		if err := json.Unmarshal([]byte(r.stdout), &j); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, r.stdout)
		}
		if j.Passed || j.Counts.Tests != 2 || j.Counts.Failed != 1 || len(j.Suites) != 1 {
			t.Fatalf("report: %+v", j)
		}
		c := j.Suites[0].Cases[1]
		if c.Status != "fail" || c.Got == nil || c.Got.Allowed {
			t.Errorf("failing case: %+v", c)
		}
	})

	t.Run("usage and bad files exit 2", func(t *testing.T) {
		bad := t.TempDir()
		writeFile(t, bad, "bad.suite.yaml", "cases:\n  - name: typo\n    expct: {allowed: true}\n")
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"test", "--no-such-flag"}, "flag provided but not defined"},
			{[]string{"test", "--output", "xml"}, `--output "xml"`},
			{[]string{"test", "no/such/dir"}, "no such file"},
			{[]string{"test", "--run", "("}, "--run"},
			{[]string{"test", bad}, `bad.suite.yaml:2: cases[0] (typo): unknown field "expct"`},
		} {
			r := runCLI(t, bin, "", tc.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, r.code, r.stderr, tc.want)
			}
		}
	})

	t.Run("nothing ran", func(t *testing.T) {
		r := runCLI(t, bin, "", "test", "--run", "no-test-is-called-this", "policies")
		if r.code != 1 || !strings.Contains(r.stderr, "no Rego tests or fixture cases ran") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
}
