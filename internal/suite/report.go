package suite

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/driftguard/driftguard/internal/answer"
	"github.com/driftguard/driftguard/internal/policy"
)

// Status of a test.
type Status string

const (
	StatusPass  Status = "pass"
	StatusFail  Status = "fail"
	StatusError Status = "error"
	StatusSkip  Status = "skip"
)

// Suite kinds.
const (
	KindRego     = "rego"
	KindFixtures = "fixtures"
)

// CaseResult is one test's result.
type CaseResult struct {
	Name     string        `json:"name"`
	Status   Status        `json:"status"`
	Reason   string        `json:"reason,omitempty"`
	Location string        `json:"location,omitempty"`
	Duration time.Duration `json:"-"`
	// Output is what a Rego test printed.
	Output string `json:"output,omitempty"`
	// Got is the answer a fixture case received.
	Got *answer.Answer `json:"got,omitempty"`
	// Drift are the drift findings by policy (cases that expect drift).
	Drift map[string][]policy.Finding `json:"drift,omitempty"`
}

// SuiteResult is a suite file's (or a Rego test package's) results.
type SuiteResult struct {
	Name     string        `json:"name"`
	File     string        `json:"file,omitempty"`
	Kind     string        `json:"kind"`
	Cases    []CaseResult  `json:"cases"`
	Duration time.Duration `json:"-"`
}

// Counts are test totals.
type Counts struct {
	Tests   int `json:"tests"`
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Errors  int `json:"errors"`
	Skipped int `json:"skipped"`
}

func (c *Counts) add(s Status) {
	c.Tests++
	switch s {
	case StatusPass:
		c.Passed++
	case StatusFail:
		c.Failed++
	case StatusError:
		c.Errors++
	case StatusSkip:
		c.Skipped++
	}
}

// Counts totals a suite.
func (s *SuiteResult) Counts() Counts {
	var c Counts
	for _, r := range s.Cases {
		c.add(r.Status)
	}
	return c
}

// Report is a whole run.
type Report struct {
	Suites   []SuiteResult `json:"suites"`
	Notes    []string      `json:"notes,omitempty"`
	Duration time.Duration `json:"-"`
}

// Counts totals the run; rego and fixtures count the two kinds.
func (r *Report) Counts() (all, rego, fixtures Counts) {
	for i := range r.Suites {
		s := &r.Suites[i]
		for _, c := range s.Cases {
			all.add(c.Status)
			if s.Kind == KindRego {
				rego.add(c.Status)
			} else {
				fixtures.add(c.Status)
			}
		}
	}
	return all, rego, fixtures
}

// Passed is true when tests ran and none failed or errored.
func (r *Report) Passed() bool {
	all, _, _ := r.Counts()
	return all.Tests > all.Skipped && all.Failed == 0 && all.Errors == 0
}

// WriteJSON writes the report as JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	type suiteJSON struct {
		SuiteResult
		Counts
		Seconds float64 `json:"seconds"`
	}
	all, rego, fixtures := r.Counts()
	out := struct {
		Passed   bool        `json:"passed"`
		Counts   Counts      `json:"counts"`
		Rego     Counts      `json:"rego"`
		Fixtures Counts      `json:"fixtures"`
		Seconds  float64     `json:"seconds"`
		Notes    []string    `json:"notes,omitempty"`
		Suites   []suiteJSON `json:"suites"`
	}{Passed: r.Passed(), Counts: all, Rego: rego, Fixtures: fixtures, Seconds: r.Duration.Seconds(), Notes: r.Notes, Suites: []suiteJSON{}}
	for _, s := range r.Suites {
		out.Suites = append(out.Suites, suiteJSON{SuiteResult: s, Counts: s.Counts(), Seconds: s.Duration.Seconds()})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// JUnit XML, as CI systems read it.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	File     string      `xml:"file,attr,omitempty"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut *junitText    `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",cdata"`
}

type junitText struct {
	Text string `xml:",cdata"`
}

// xmlSafe drops characters XML 1.0 cannot carry (control characters).
func xmlSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return r
		case r < 0x20, r == 0xFFFE, r == 0xFFFF, r >= 0xD800 && r <= 0xDFFF:
			return -1
		}
		return r
	}, s)
}

type junitSkipped struct {
	Message string `xml:"message,attr,omitempty"`
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// WriteJUnit writes the report as JUnit XML: a testsuite per suite file
// and per Rego test package, a testcase per case or test.
func (r *Report) WriteJUnit(w io.Writer) error {
	all, _, _ := r.Counts()
	out := junitSuites{Name: "driftguard test", Tests: all.Tests, Failures: all.Failed, Errors: all.Errors, Skipped: all.Skipped, Time: secs(r.Duration)}
	for _, s := range r.Suites {
		c := s.Counts()
		name := s.Name
		if s.Kind == KindRego {
			name = "rego: " + s.Name
		}
		js := junitSuite{Name: name, Tests: c.Tests, Failures: c.Failed, Errors: c.Errors, Skipped: c.Skipped, Time: secs(s.Duration), File: s.File}
		for _, cr := range s.Cases {
			jc := junitCase{Name: xmlSafe(cr.Name), Classname: xmlSafe(name), Time: secs(cr.Duration)}
			if cr.Output != "" {
				jc.SystemOut = &junitText{Text: xmlSafe(cr.Output)}
			}
			if file, _, ok := strings.Cut(cr.Location, ":"); ok {
				jc.File = file
			}
			first, _, _ := strings.Cut(cr.Reason, "\n")
			text := cr.Reason
			if cr.Location != "" {
				text = cr.Location + ": " + text
			}
			if cr.Got != nil && cr.Status != StatusPass {
				if b, err := json.MarshalIndent(cr.Got, "", "  "); err == nil {
					text += "\n\ngot:\n" + string(b)
				}
			}
			if cr.Drift != nil && cr.Status != StatusPass {
				if b, err := json.MarshalIndent(cr.Drift, "", "  "); err == nil {
					text += "\n\ngot drift:\n" + string(b)
				}
			}
			switch cr.Status {
			case StatusFail:
				jc.Failure = &junitProblem{Message: xmlSafe(first), Type: "failure", Text: xmlSafe(text)}
			case StatusError:
				jc.Error = &junitProblem{Message: xmlSafe(first), Type: "error", Text: xmlSafe(text)}
			case StatusSkip:
				jc.Skipped = &junitSkipped{Message: xmlSafe(cr.Reason)}
			}
			js.Cases = append(js.Cases, jc)
		}
		out.Suites = append(out.Suites, js)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// WriteText writes a human report: every fixture case, Rego tests per
// package (each test with verbose), failures with their reasons.
func (r *Report) WriteText(w io.Writer, verbose bool) error {
	var b strings.Builder
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	indent := func(s, pad string) string { return pad + strings.ReplaceAll(s, "\n", "\n"+pad) }
	section := ""
	for _, s := range r.Suites {
		if s.Kind != section {
			section = s.Kind
			if section == KindRego {
				b.WriteString("Rego unit tests\n")
			} else {
				b.WriteString("Fixture suites\n")
			}
		}
		c := s.Counts()
		if s.Kind == KindRego {
			status := "ok  "
			if c.Failed+c.Errors > 0 {
				status = "FAIL"
			}
			fmt.Fprintf(&b, "  %s  %s  %d passed", status, s.Name, c.Passed)
			if c.Failed+c.Errors > 0 {
				fmt.Fprintf(&b, ", %d failed", c.Failed+c.Errors)
			}
			if c.Skipped > 0 {
				fmt.Fprintf(&b, ", %d skipped", c.Skipped)
			}
			fmt.Fprintf(&b, " (%s)\n", round(s.Duration))
		} else {
			fmt.Fprintf(&b, "  %s (%s)\n", s.Name, s.File)
		}
		for _, cr := range s.Cases {
			if s.Kind == KindRego && cr.Status == StatusPass && !verbose {
				continue
			}
			fmt.Fprintf(&b, "    %-5s %s", strings.ToUpper(string(cr.Status)), cr.Name)
			if cr.Status != StatusPass && cr.Location != "" {
				fmt.Fprintf(&b, "  (%s)", cr.Location)
			}
			fmt.Fprintf(&b, " %s\n", round(cr.Duration))
			if cr.Status != StatusPass && cr.Reason != "" {
				b.WriteString(indent(cr.Reason, "          ") + "\n")
			}
			if (cr.Status == StatusFail || cr.Status == StatusError) && cr.Got != nil && cr.Got.Error == "" && s.Kind == KindFixtures {
				fmt.Fprintf(&b, "          got: %s\n", summary(cr.Got))
			}
			if cr.Status == StatusFail && cr.Drift != nil {
				d, _ := json.Marshal(cr.Drift)
				fmt.Fprintf(&b, "          got drift: %s\n", d)
			}
			if cr.Status != StatusPass && strings.TrimSpace(cr.Output) != "" {
				b.WriteString(indent(strings.TrimRight(cr.Output, "\n"), "          | ") + "\n")
			}
		}
	}
	all, rego, fixtures := r.Counts()
	verdict := "PASS"
	if !r.Passed() {
		verdict = "FAIL"
	}
	fmt.Fprintf(&b, "%s  Rego tests: %s; fixture cases: %s (%s)\n", verdict, countText(rego), countText(fixtures), round(r.Duration))
	if all.Tests == 0 {
		b.WriteString("no Rego tests or fixture cases ran\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func countText(c Counts) string {
	if c.Tests == 0 {
		return "none"
	}
	s := fmt.Sprintf("%d passed", c.Passed)
	if c.Failed > 0 {
		s += fmt.Sprintf(", %d failed", c.Failed)
	}
	if c.Errors > 0 {
		s += fmt.Sprintf(", %d errors", c.Errors)
	}
	if c.Skipped > 0 {
		s += fmt.Sprintf(", %d skipped", c.Skipped)
	}
	return s
}

func summary(a *answer.Answer) string {
	var parts []string
	if a.Allowed {
		parts = append(parts, "allowed")
	} else {
		parts = append(parts, "denied")
	}
	if a.Message != "" {
		parts = append(parts, fmt.Sprintf("message %q", a.Message))
	}
	if len(a.Warnings) > 0 {
		parts = append(parts, "warnings "+quoteList(a.Warnings))
	}
	if len(a.Patch) > 0 {
		parts = append(parts, "patch "+patchText(a.Patch))
	}
	var vs []string
	for _, v := range a.Verdicts {
		vs = append(vs, v.Policy+"="+v.Decision)
	}
	if len(vs) > 0 {
		parts = append(parts, "decisions "+strings.Join(vs, ","))
	}
	if a.Exempt != "" {
		parts = append(parts, "exempt: "+a.Exempt)
	}
	return strings.Join(parts, "; ")
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
