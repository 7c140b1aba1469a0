package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/driftguard/driftguard/internal/answer"
	"github.com/driftguard/driftguard/internal/loader"
	"github.com/driftguard/driftguard/internal/redact"
	"github.com/driftguard/driftguard/internal/suite"
)

const evalUsage = `usage: driftguard eval -f review.json [flags]

Answers one AdmissionReview (admission.k8s.io/v1, JSON or YAML; -f - reads
stdin) with the webhook's own code, and shows which policy said what.
Exit status: 0 when the review was evaluated (allowed or denied), 2 when it
or the config or policies cannot be read.

flags:
`

func runEval(args []string) int {
	return evalMain(args, os.Stdin, os.Stdout, os.Stderr)
}

func evalMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, evalUsage)
		fs.PrintDefaults()
	}
	var (
		file      string
		cfg       string
		dirs      listFlag
		noBundled bool
		showInput bool
		mutate    bool
		output    string
	)
	fs.StringVar(&file, "f", "", "AdmissionReview file (JSON or YAML); - reads stdin")
	fs.StringVar(&cfg, "config", "", "config file (YAML); empty: the embedded defaults")
	fs.Var(&dirs, "policies", "extra policy directory (repeatable or comma-separated)")
	fs.BoolVar(&noBundled, "no-bundled-policies", false, "do not load the policies embedded in the binary")
	fs.BoolVar(&showInput, "show-input", false, "print the enriched input document policies see (Secret data, stringData and last-applied-configuration values redacted)")
	fs.BoolVar(&mutate, "mutate", false, "also run the mutating webhook and print its JSON patch (drift records, policy patches)")
	fs.StringVar(&output, "output", "text", "text or json")
	fs.StringVar(&output, "o", "text", "shorthand for --output")
	rest, err := parseFlagsAnywhere(fs, args)
	if err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitBadFile
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "driftguard eval: "+format+"\n", a...)
		return exitBadFile
	}
	if file == "" && len(rest) == 1 {
		file, rest = rest[0], nil
	}
	if len(rest) > 0 {
		return bad("unexpected arguments %v", rest)
	}
	if file == "" {
		fs.Usage()
		return bad("-f is required (a review file, or - for stdin)")
	}
	if output != "text" && output != "json" {
		return bad("--output %q: want text or json", output)
	}
	rv, err := suite.ReadReview(file, stdin)
	if err != nil {
		return bad("%v", err)
	}
	ctx := context.Background()
	opts, notes := loader.PolicyOptions(dirs, noBundled)
	for _, n := range notes {
		fmt.Fprintf(stderr, "note: %s\n", n)
	}
	opts.ConfigFile = cfg
	st, err := loader.Load(ctx, opts)
	if err != nil {
		return bad("loading config and policies: %v", err)
	}
	for _, w := range st.Config.Warnings {
		fmt.Fprintf(stderr, "warning: config: %s\n", w)
	}
	req := rv.Request
	ans, d, err := answer.Evaluate(ctx, st, req, answer.Options{Mutate: mutate})
	if err != nil {
		if answer.IsBadInput(err) {
			return bad("the review cannot be evaluated: %v", err)
		}
		fmt.Fprintf(stderr, "driftguard eval: %v\n", err)
		return exitFailed
	}
	// Policies that did not match the request are shown as skipped.
	matched := map[string]bool{}
	for _, v := range ans.Verdicts {
		matched[v.Policy] = true
	}
	for _, p := range st.Policies.Policies {
		if !matched[p.Name] {
			ans.Verdicts = append(ans.Verdicts, answer.Verdict{Policy: p.Name, Mode: string(st.Config.ModeFor(p.Name)), Decision: "skipped"})
		}
	}

	// Printed below: Secret values (and last-applied manifests) hidden.
	ans = ans.Redacted()
	var shownInput map[string]any
	if showInput {
		shownInput = redact.Doc(d.Input.Doc)
	}

	who := req.UserInfo.Username
	if fm := fieldManagerOf(req.Options.Raw); fm != "" {
		who += " (fieldManager " + fm + ")"
	}
	target := req.Name
	if req.Namespace != "" {
		target = req.Namespace + "/" + req.Name
	}
	gv := req.Kind.Version
	if req.Kind.Group != "" {
		gv = req.Kind.Group + "/" + gv
	}
	reviewLine := fmt.Sprintf("%s %s %s %s by %s", req.Operation, gv, req.Kind.Kind, target, who)
	if req.SubResource != "" {
		reviewLine += " (subresource " + req.SubResource + ")"
	}
	if req.DryRun != nil && *req.DryRun {
		reviewLine += " (dry run)"
	}

	if output == "json" {
		out := map[string]any{"review": reviewLine, "answer": ans}
		if showInput {
			out["input"] = shownInput
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(stderr, "driftguard eval: %v\n", err)
			return exitFailed
		}
		return exitOK
	}

	var b strings.Builder
	fmt.Fprintf(&b, "review:    %s\n", reviewLine)
	if ans.Allowed {
		b.WriteString("answer:    allowed\n")
	} else {
		b.WriteString("answer:    denied\n")
	}
	if ans.Message != "" {
		fmt.Fprintf(&b, "message:   %s\n", ans.Message)
	}
	if ans.Exempt != "" {
		fmt.Fprintf(&b, "exempt:    %s (no policy evaluated)\n", ans.Exempt)
	}
	if len(ans.Warnings) == 0 {
		b.WriteString("warnings:  none\n")
	} else {
		b.WriteString("warnings:\n")
		for _, w := range ans.Warnings {
			fmt.Fprintf(&b, "  - %s\n", w)
		}
	}
	b.WriteString("policies:\n")
	for _, v := range ans.Verdicts {
		fmt.Fprintf(&b, "  %-24s %-8s %s\n", v.Policy, v.Mode, v.Decision)
		for _, f := range v.Deny {
			fmt.Fprintf(&b, "      deny  %s\n", findingText(f.Field, f.Owner, f.Msg))
		}
		for _, f := range v.Warn {
			fmt.Fprintf(&b, "      warn  %s\n", findingText(f.Field, f.Owner, f.Msg))
		}
		for _, p := range v.Patch {
			pb, _ := json.Marshal(p)
			fmt.Fprintf(&b, "      patch %s\n", pb)
		}
		if v.Error != "" {
			fmt.Fprintf(&b, "      error %s\n", v.Error)
		}
	}
	if mutate {
		if len(ans.Patch) == 0 {
			b.WriteString("patch:     none (mutating webhook)\n")
		} else {
			b.WriteString("patch:     (mutating webhook)\n")
			for _, p := range ans.Patch {
				pb, _ := json.Marshal(p)
				fmt.Fprintf(&b, "  %s\n", pb)
			}
		}
	}
	for _, n := range ans.Notes {
		fmt.Fprintf(&b, "note:      %s\n", n)
	}
	if showInput {
		ib, err := json.MarshalIndent(shownInput, "", "  ")
		if err != nil {
			fmt.Fprintf(stderr, "driftguard eval: input: %v\n", err)
			return exitFailed
		}
		fmt.Fprintf(&b, "input:\n%s\n", ib)
	}
	if _, err := io.WriteString(stdout, b.String()); err != nil {
		return exitFailed
	}
	return exitOK
}

func findingText(field, owner, msg string) string {
	var pre []string
	if field != "" {
		pre = append(pre, field)
	}
	if owner != "" {
		pre = append(pre, "owner "+owner)
	}
	if len(pre) == 0 {
		return msg
	}
	return "[" + strings.Join(pre, ", ") + "] " + msg
}

func fieldManagerOf(raw []byte) string {
	var o struct {
		FieldManager string `json:"fieldManager"`
	}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &o)
	}
	return o.FieldManager
}
