package main

// The example outputs in README.md and docs/policy-authoring.md are what
// the binary prints today: each test below runs the documented command and
// compares its output with the documented one, so a doc that goes stale
// (new policies, more tests, another message) fails here.

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func readDoc(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoDir(), rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// consoleBlock returns the lines a fenced block of doc shows after the
// line "$ <command>", up to the end of the block, without the block's
// indentation (a block inside a list item is indented).
func consoleBlock(t *testing.T, doc, name, command string) []string {
	t.Helper()
	lines := strings.Split(doc, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != "$ "+command {
			continue
		}
		indent := l[:len(l)-len(strings.TrimLeft(l, " "))]
		var block []string
		for _, l := range lines[i+1:] {
			if strings.TrimSpace(l) == "```" {
				return block
			}
			block = append(block, strings.TrimPrefix(l, indent))
		}
		t.Fatalf("%s: the example of `%s` has no closing fence", name, command)
	}
	t.Fatalf("%s has no example output of `%s`", name, command)
	return nil
}

// durations differ from run to run: 2.77s, 1.2ms, 613µs.
var durationRE = regexp.MustCompile(`\b\d+(\.\d+)?(ns|µs|us|ms|s)\b`)

func normalizeDurations(s string) string { return durationRE.ReplaceAllString(s, "<duration>") }

// expectShown checks that the documented lines appear in the output, in
// order, durations aside; a documented line "..." stands for lines left out.
func expectShown(t *testing.T, what string, documented []string, output string) {
	t.Helper()
	out := strings.Split(normalizeDurations(output), "\n")
	i := 0
	for _, want := range documented {
		if strings.TrimSpace(want) == "..." {
			continue
		}
		want = normalizeDurations(want)
		for i < len(out) && out[i] != want {
			i++
		}
		if i == len(out) {
			t.Errorf("%s shows the line\n  %q\nthat the binary does not print (in this order) today; it prints:\n%s", what, want, output)
			return
		}
		i++
	}
}

var summaryRE = regexp.MustCompile(`^(PASS|FAIL)  Rego tests: \d+ passed; fixture cases: \d+ passed \(<duration>\)$`)

// expectSummary checks the documented summary line has today's shape and
// counts: the last documented line, compared with the last line printed.
func expectSummary(t *testing.T, what string, documented []string, output string) {
	t.Helper()
	doc := normalizeDurations(documented[len(documented)-1])
	lines := strings.Split(strings.TrimSpace(normalizeDurations(output)), "\n")
	got := lines[len(lines)-1]
	if !summaryRE.MatchString(got) {
		t.Fatalf("the summary line the binary prints, %q, no longer has the shape %s: update this test and %s", got, summaryRE, what)
	}
	if doc != got {
		t.Errorf("%s shows the summary line\n  %q\nbut the binary prints\n  %q", what, doc, got)
	}
}

// README.md: `driftguard test policies` on the bundled policies.
func TestREADMETestPoliciesOutput(t *testing.T) {
	documented := consoleBlock(t, readDoc(t, "README.md"), "README.md", "driftguard test policies")
	t.Chdir(repoDir())
	var stdout, stderr bytes.Buffer
	if code := testMain([]string{"policies"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("driftguard test policies exited %d:\n%s%s", code, stdout.String(), stderr.String())
	}
	expectSummary(t, "README.md", documented, stdout.String())
	expectShown(t, "README.md", documented, stdout.String())
}

// README.md, "Try it with curl": the documented review sent to serve --dev
// gets the documented answer.
func TestREADMECurlExampleAnswer(t *testing.T) {
	readme := readDoc(t, "README.md")
	_, section, ok := strings.Cut(readme, "## Try it with curl\n")
	if !ok {
		t.Fatal(`README.md has no section "Try it with curl"`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	m := regexp.MustCompile(`--data @(\S+) https://localhost:9443/validate`).FindStringSubmatch(section)
	if m == nil {
		t.Fatal("README.md's curl example names no review file (--data @FILE .../validate)")
	}
	review, err := os.ReadFile(filepath.Join(repoDir(), m[1]))
	if err != nil {
		t.Fatalf("README.md's curl example sends %s: %v", m[1], err)
	}
	a := regexp.MustCompile("(?s)with `allowed: (true|false)` and the message\\s+`([^`]+)`").FindStringSubmatch(section)
	if a == nil {
		t.Fatal("README.md's curl example shows no answer (`allowed: ...` and the message `...`)")
	}
	wantAllowed := a[1] == "true"
	wantMsg := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(a[2]), "..."))

	s := startServer(t, serveBinary(t), "", nil)
	resp, _, err := s.review(s.client, review)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Allowed != wantAllowed {
		t.Errorf("README.md says allowed: %v; serve --dev answers allowed: %v", wantAllowed, resp.Allowed)
	}
	got := ""
	if resp.Result != nil {
		got = resp.Result.Message
	}
	if !strings.HasPrefix(got, wantMsg) {
		t.Errorf("README.md shows the message\n  %q\nserve --dev answers\n  %q", wantMsg, got)
	}
}

// writeWorkedExample writes the files docs/policy-authoring.md's worked
// example tells the reader to create (`my-policies/...` and `review.yaml`,
// each introduced by its name on the line before the fenced block) into a
// temporary directory and makes it the working directory.
func writeWorkedExample(t *testing.T, doc string) {
	t.Helper()
	dir := t.TempDir()
	re := regexp.MustCompile("(?ms)^`((?:my-policies/[^`]+)|review\\.yaml)`[^\\n]*\\n(?:[^\\n]*\\n)*?```\\w*\\n(.*?)^```")
	n := 0
	for _, m := range re.FindAllStringSubmatch(doc, -1) {
		p := filepath.Join(dir, filepath.FromSlash(m[1]))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(m[2]), 0o644); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n < 4 {
		t.Fatalf("docs/policy-authoring.md's worked example has %d files, want the policy, its test, the suite and review.yaml", n)
	}
	t.Chdir(dir)
}

func TestPolicyAuthoringWorkedExampleOutputs(t *testing.T) {
	doc := readDoc(t, "docs/policy-authoring.md")
	writeWorkedExample(t, doc)

	t.Run("driftguard test my-policies", func(t *testing.T) {
		documented := consoleBlock(t, doc, "docs/policy-authoring.md", "driftguard test my-policies")
		var stdout, stderr bytes.Buffer
		if code := testMain([]string{"my-policies"}, &stdout, &stderr); code != exitOK {
			t.Fatalf("exit %d:\n%s%s", code, stdout.String(), stderr.String())
		}
		expectSummary(t, "docs/policy-authoring.md", documented, stdout.String())
		expectShown(t, "docs/policy-authoring.md", documented, stdout.String())
	})

	t.Run("driftguard eval", func(t *testing.T) {
		const command = "driftguard eval -f review.yaml --policies my-policies"
		documented := consoleBlock(t, doc, "docs/policy-authoring.md", command)
		var stdout, stderr bytes.Buffer
		evalMain(strings.Fields(command)[2:], strings.NewReader(""), &stdout, &stderr)
		if got, want := strings.TrimSuffix(stdout.String(), "\n"), strings.Join(documented, "\n"); got != want {
			t.Errorf("docs/policy-authoring.md shows for `%s`:\n%s\nthe binary prints:\n%s%s", command, want, got, stderr.String())
		}
	})
}

// docs/scenarios.md names each suite case that carries a scenario id
// ("s3 ...") under that scenario, and every suite case it names exists:
// the catalogue and the suites cannot drift apart unnoticed.
func TestScenarioCatalogueMatchesSuites(t *testing.T) {
	doc := readDoc(t, "docs/scenarios.md")
	sections := map[string]string{} // "3" -> the text of "## S3: ..."
	parts := regexp.MustCompile(`(?m)^## S(\d+): `).FindAllStringSubmatchIndex(doc, -1)
	for i, p := range parts {
		end := len(doc)
		if i+1 < len(parts) {
			end = parts[i+1][0]
		}
		sections[doc[p[2]:p[3]]] = doc[p[0]:end]
	}
	for i := 1; i <= 18; i++ {
		if _, ok := sections[strconv.Itoa(i)]; !ok {
			t.Errorf("docs/scenarios.md has no section S%d", i)
		}
	}
	files, err := filepath.Glob(filepath.Join(repoDir(), "policies", "suites", "*.suite.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixture suites: %v", err)
	}
	cases := map[string]bool{}
	caseRE := regexp.MustCompile(`(?m)^  - name: (.+)$`)
	idRE := regexp.MustCompile(`^s(\d+) `)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range caseRE.FindAllStringSubmatch(string(b), -1) {
			name := strings.TrimSpace(m[1])
			cases[name] = true
			if id := idRE.FindStringSubmatch(name); id != nil && !strings.Contains(sections[id[1]], "`"+name+"`") {
				t.Errorf("suite case %q (%s) is not listed under S%s in docs/scenarios.md", name, filepath.Base(f), id[1])
			}
		}
	}
	for _, m := range regexp.MustCompile("suite ((?:`[^`]+`,?\\s*)+)").FindAllStringSubmatch(doc, -1) {
		for _, n := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(m[1], -1) {
			if !cases[n[1]] {
				t.Errorf("docs/scenarios.md names suite case %q, which no policies/suites/*.suite.yaml has", n[1])
			}
		}
	}
}

// The README's "How one request flows" table names every package under
// internal/ and nothing that does not exist, and every package has the
// doc.go that holds its package comment.
func TestREADMEFlowTableMatchesTheFolders(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoDir(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, "## How one request flows")
	if start < 0 {
		t.Fatal(`README.md has no "How one request flows" section`)
	}
	section := text[start:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	entries, err := os.ReadDir(filepath.Join(repoDir(), "internal"))
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		have[e.Name()] = true
		if !strings.Contains(section, "`internal/"+e.Name()+"/`") {
			t.Errorf("the README's flow table does not name internal/%s/", e.Name())
		}
		if _, err := os.Stat(filepath.Join(repoDir(), "internal", e.Name(), "doc.go")); err != nil {
			t.Errorf("internal/%s has no doc.go", e.Name())
		}
	}
	for _, m := range regexp.MustCompile("`internal/([a-z]+)/`").FindAllStringSubmatch(section, -1) {
		if !have[m[1]] {
			t.Errorf("the README's flow table names internal/%s/, which does not exist", m[1])
		}
	}
}
