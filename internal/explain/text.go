package explain

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/driftguard/driftguard/internal/audit"
)

// WriteText writes the report as a readable checklist.
func (r *Report) WriteText(w io.Writer) error {
	p := &printer{w: w}
	o := r.Object
	p.f("driftguard explain %s (%s, uid %s, resourceVersion %s)\n", ref(o.Kind, o.Namespace, o.Name), o.APIVersion, orNone(o.UID), o.ResourceVersion)

	p.section("1. Owner chain")
	p.f("  %s\n", r.OwnerChain)
	for _, l := range r.OwnerChain.Links {
		if len(l.OtherOwners) > 0 {
			p.f("  %s also has non-controlling owners: %s\n", l, strings.Join(l.OtherOwners, ", "))
		}
	}
	mark := "✓"
	if r.OwnerChain.End != EndRoot {
		mark = "!"
	}
	p.f("  %s %s\n", mark, r.OwnerChain.EndNote)

	p.section("2. Reconciler conventions")
	cv := r.Conventions
	if cv.Exempt != "" {
		p.f("  ! driftguard does not evaluate requests for this object: %s\n", cv.Exempt)
	}
	if d := cv.ObjectOwner; d != nil {
		p.f("  - declared owner of the object: %s (%s, via %s)", d.Display, d.Name, d.Via)
		if d.Source != "" {
			p.f("; change it in %s", d.Source)
		}
		p.f("\n")
	} else {
		p.f("  - no declared owner of the object as a whole\n")
	}
	for _, c := range cv.Owners {
		p.f("  - %s ← %s [%s]: %s\n", c.Object, c.Owner, c.OwnerKind, c.Verdict)
	}
	if len(cv.Owners) == 0 {
		p.f("  - no controlling owner\n")
	}
	if c := cv.AsOwner; c != nil {
		p.f("  - as an owner (%s): %s\n", c.OwnerKind, c.Verdict)
	}
	for _, t := range cv.GitOps {
		p.f("  - %s %s (%s): %s\n", t.System, joinNS(t.Namespace, t.Name), t.Evidence, t.Verdict)
	}
	if len(cv.GitOps) == 0 {
		p.f("  - no Flux or Argo CD tracking labels/annotations\n")
	}

	p.section("3. Field managers (leaf fields of managedFields)")
	if len(r.Fields) == 0 {
		p.f("  (no managedFields)\n")
	} else {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  FIELD\tMANAGER\tOPERATION\tDECLARED OWNER\tTIME")
		for _, f := range r.Fields {
			for _, m := range f.Managers {
				op := m.Operation
				if m.Subresource != "" {
					op += " (" + m.Subresource + ")"
				}
				owner := "-"
				switch {
				case m.Owner != "":
					owner = "yes: " + m.Owner
				case m.HandEdit:
					owner = "no (hand edit)"
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", f.Path, m.Manager, op, owner, m.Time)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	h := r.HandEdits
	p.section(fmt.Sprintf("4. Hand edits by %s (groups %s), answered by driftguard's policies", h.User, strings.Join(h.Groups, ", ")))
	for _, e := range h.Edits {
		owner := ""
		if e.Owner != "" {
			owner = fmt.Sprintf(" — owner %s via %s", e.Owner, e.Via)
		}
		what := e.Field
		if e.Operation != "DELETE" {
			what += " (" + e.Edit + ")"
		}
		p.f("  %-7s %s %s%s\n", strings.ToUpper(e.Result), e.Operation, what, owner)
		for _, m := range e.Messages {
			p.f("          %s\n", m)
		}
		if e.Error != "" {
			p.f("          ! %s\n", e.Error)
		}
	}
	if h.NotSimulated > 0 {
		p.f("  … %d more owned fields not simulated (cap)\n", h.NotSimulated)
	}

	if a := r.Access; a != nil {
		who := "the caller"
		if a.User != "" {
			who = a.User
			if len(a.Groups) > 0 {
				who += " (groups " + strings.Join(a.Groups, ", ") + ")"
			}
		}
		p.section(fmt.Sprintf("5. Access (%s for %s)", a.Method, who))
		for _, c := range a.Checks {
			ans := "no"
			if c.Allowed {
				ans = "yes"
			}
			line := fmt.Sprintf("  can %-6s %s: %s", c.Verb, ref(o.Kind, o.Namespace, o.Name), ans)
			if c.Reason != "" {
				line += " — " + c.Reason
			}
			if c.Error != "" {
				line += " (error: " + c.Error + ")"
			}
			p.f("%s\n", line)
		}
	}

	if err := r.Drift.writeText(p, w); err != nil {
		return err
	}

	if len(r.Notes) > 0 {
		p.section("Notes")
		for _, n := range r.Notes {
			p.f("  ! %s\n", n)
		}
	}
	return p.err
}

type printer struct {
	w   io.Writer
	err error
}

func (p *printer) f(format string, a ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, a...)
	}
}

func (p *printer) section(title string) { p.f("\n%s\n", title) }

func joinNS(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

func (d Drift) writeText(p *printer, w io.Writer) error {
	p.section("6. Drift (the policies' drift rules on the live object, and the drift record)")
	if len(d.Findings) == 0 {
		p.f("  ✓ no drift findings\n")
	} else {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  POLICY\tFIELD\tOWNER\tSINCE\tMESSAGE")
		for _, f := range d.Findings {
			since := "- (in no report)"
			if f.Since != nil {
				since = f.Since.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", f.Policy, orDash(f.Field), orDash(f.Owner), since, oneLine(f.Message))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if d.Dropped > 0 {
			p.f("  … %d more findings (cap of %d per policy)\n", d.Dropped, audit.MaxFindingsPerObject)
		}
	}
	switch {
	case d.Record == nil:
		p.f("  - no drift record (%s)\n", d.RecordAnnotation)
	case len(d.Record.Edits) == 0:
		p.f("  - drift record (%s): no standing hand edits\n", d.RecordAnnotation)
	default:
		edits := "hand edits"
		if len(d.Record.Edits) == 1 {
			edits = "hand edit"
		}
		p.f("  - drift record (%s): %d standing %s\n", d.RecordAnnotation, len(d.Record.Edits), edits)
		for _, e := range d.Record.Edits {
			p.f("      %s by %s, owner %s, policy %s: %s", e.At, e.By, e.Owner, e.Policy, strings.Join(e.Fields, ", "))
			if e.Reason != "" {
				p.f(" (%s)", oneLine(e.Reason))
			}
			p.f("\n")
		}
	}
	return p.err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps text on its line: control characters become spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
