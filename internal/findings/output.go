package findings

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/driftguard/driftguard/internal/audit"
	"github.com/driftguard/driftguard/internal/revert"
)

// Formats are the output formats of Write.
var Formats = []string{"table", "wide", "json", "yaml"}

// ValidFormat reports whether f is one of Formats.
func ValidFormat(f string) bool {
	for _, x := range Formats {
		if x == f {
			return true
		}
	}
	return false
}

// Write prints the list: a table (wide: with the message), or the List
// as JSON or YAML.
func Write(w io.Writer, l *List, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(l)
	case "yaml":
		b, err := yaml.Marshal(l)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	case "table", "wide", "":
		return writeTable(w, l, format == "wide")
	}
	return fmt.Errorf("unknown output format %q (want %s)", format, strings.Join(Formats, ", "))
}

func writeTable(w io.Writer, l *List, wide bool) error {
	if len(l.Findings) > 0 {
		tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
		head := "NAMESPACE\tKIND\tNAME\tPOLICY\tFIELD\tOWNER\tSINCE"
		if wide {
			head += "\tMESSAGE"
		}
		fmt.Fprintln(tw, head)
		for _, r := range l.Findings {
			since := "-"
			if r.Since != nil {
				since = r.Since.UTC().Format(time.RFC3339)
			}
			cells := []string{r.Namespace, r.Kind, r.Name, r.Policy, r.Field, r.Owner, since}
			if wide {
				cells = append(cells, r.Message)
			}
			for i, c := range cells {
				cells[i] = cell(c)
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(w, Summary(l))
	return err
}

// cell keeps a table cell on its line and column: control characters
// (tabs, newlines from a policy's message) become spaces; empty is "-".
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// Summary is the table's last line: how many findings on how many
// objects, from where, and what a cap left out.
func Summary(l *List) string {
	from := "driftguard's reports"
	if l.Source == FromLive {
		from = fmt.Sprintf("live objects, %s evaluated", plural(l.Evaluated, "object"))
	}
	var b strings.Builder
	drift := len(l.Findings) - l.Reverts()
	if drift == 0 && l.Omitted == 0 && l.Dropped == 0 {
		fmt.Fprintf(&b, "No drift in %s (%s).", scopeText(l), from)
	} else {
		fmt.Fprintf(&b, "%s on %s in %s (%s).", plural(drift, "drift finding"), plural(l.Objects(), "object"), scopeText(l), from)
	}
	if n := l.Reverts(); n > 0 {
		fmt.Fprintf(&b, " %s of hand edits in the last hour (policy %s: history, not drift).", plural(n, "observed revert"), revert.FindingPolicy)
	}
	if l.Omitted > 0 {
		fmt.Fprintf(&b, " %s left out of the reports by their cap: run with --live to see all.", plural(l.Omitted, "more finding"))
	}
	if l.Dropped > 0 {
		fmt.Fprintf(&b, " %s beyond %d per policy and object not shown.", plural(l.Dropped, "more finding"), audit.MaxFindingsPerObject)
	}
	if l.Errors > 0 {
		fmt.Fprintf(&b, " %s could not be evaluated: the list may be incomplete.", plural(l.Errors, "object or policy"))
	}
	return b.String()
}

func scopeText(l *List) string {
	if l.AllNamespaces {
		return "all namespaces"
	}
	return "namespace " + l.Namespace
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	switch {
	case strings.HasSuffix(what, "object or policy"):
		return fmt.Sprintf("%d objects or policies", n)
	}
	return fmt.Sprintf("%d %ss", n, what)
}
