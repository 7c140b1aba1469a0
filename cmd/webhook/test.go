package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/driftguard/driftguard/internal/suite"
)

// Exit codes of test and eval.
const (
	exitOK      = 0
	exitFailed  = 1 // a case or Rego test failed (or nothing ran)
	exitBadFile = 2 // usage, unreadable or malformed files
)

const testUsage = `usage: driftguard test [flags] [dir|file.suite.yaml ...]

Runs the Rego unit tests (test_* rules in *_test.rego) of the bundled
policies and of each directory, and the fixture suites (*.suite.yaml)
found under the directories or named as files. A directory that holds the
bundled policies (the repository's policies/) replaces the embedded copy.

Exit status: 0 all passed, 1 a test failed (or none ran), 2 bad usage or
a malformed suite, config or policy file.

flags:
`

func runTest(args []string) int {
	return testMain(args, os.Stdout, os.Stderr)
}

func testMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, testUsage)
		fs.PrintDefaults()
	}
	var (
		noBundled bool
		output    string
		run       string
		cfg       string
		verbose   bool
		noRego    bool
		timeout   time.Duration
	)
	fs.BoolVar(&noBundled, "no-bundled-policies", false, "leave the policies embedded in the binary out (Rego tests and suites)")
	fs.StringVar(&output, "output", "text", "report format: text, json or junit (written to stdout)")
	fs.StringVar(&output, "o", "text", "shorthand for --output")
	fs.StringVar(&run, "run", "", "run only Rego tests (package.test_name) and suite cases (suite/case) matching this regular expression")
	fs.StringVar(&cfg, "config", "", "config for suites that name none (default: the embedded config)")
	fs.BoolVar(&verbose, "v", false, "text output: list every Rego test, not only failures")
	fs.BoolVar(&noRego, "no-rego-tests", false, "run the fixture suites only")
	fs.DurationVar(&timeout, "timeout", 30*time.Second, "timeout of each Rego unit test")
	paths, err := parseFlagsAnywhere(fs, args)
	if err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitBadFile
	}
	switch output {
	case "text", "json", "junit":
	default:
		fmt.Fprintf(stderr, "driftguard test: --output %q: want text, json or junit\n", output)
		return exitBadFile
	}
	o := suite.Options{NoBundled: noBundled, ConfigFile: cfg, Timeout: timeout}
	if run != "" {
		re, err := regexp.Compile(run)
		if err != nil {
			fmt.Fprintf(stderr, "driftguard test: --run: %v\n", err)
			return exitBadFile
		}
		o.Run = re
	}
	if cfg != "" {
		if _, err := os.Stat(cfg); err != nil {
			fmt.Fprintf(stderr, "driftguard test: --config: %v\n", err)
			return exitBadFile
		}
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			fmt.Fprintf(stderr, "driftguard test: %v\n", err)
			return exitBadFile
		}
		if st.IsDir() {
			o.PolicyDirs = append(o.PolicyDirs, p)
		} else if !suite.IsSuiteFile(p) && !strings.HasSuffix(p, ".yaml") && !strings.HasSuffix(p, ".yml") {
			fmt.Fprintf(stderr, "driftguard test: %s: not a directory or a suite file (*.suite.yaml)\n", p)
			return exitBadFile
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	r := suite.NewRunner(o)

	files, err := suite.Discover(paths)
	if err != nil {
		fmt.Fprintf(stderr, "driftguard test: %v\n", err)
		return exitBadFile
	}
	suites, err := r.LoadFiles(ctx, files)
	if err != nil {
		fmt.Fprintf(stderr, "driftguard test: malformed suite:\n%s\n", indentLines(err.Error(), "  "))
		return exitBadFile
	}
	rep := &suite.Report{}
	if !noRego {
		rego, err := r.RunRegoTests(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "driftguard test: Rego unit tests: %v\n", err)
			return exitBadFile
		}
		rep.Suites = append(rep.Suites, rego...)
	}
	rep.Suites = append(rep.Suites, r.RunSuites(ctx, suites)...)
	rep.Notes = r.Notes
	for _, w := range r.Warnings {
		fmt.Fprintf(stderr, "warning: config: %s\n", w)
	}
	rep.Duration = time.Since(start)

	switch output {
	case "json":
		err = rep.WriteJSON(stdout)
	case "junit":
		err = rep.WriteJUnit(stdout)
	default:
		err = rep.WriteText(stdout, verbose)
	}
	if err != nil {
		fmt.Fprintf(stderr, "driftguard test: writing the report: %v\n", err)
		return exitFailed
	}
	all, _, _ := rep.Counts()
	if all.Tests == all.Skipped {
		msg := "no Rego tests or fixture cases ran"
		if run != "" {
			msg += fmt.Sprintf(" (--run %q matched nothing)", run)
		} else if len(files) == 0 {
			msg += " (no *.suite.yaml found"
			if len(paths) > 0 {
				msg += " under " + strings.Join(paths, ", ")
			}
			msg += ")"
		}
		fmt.Fprintf(stderr, "driftguard test: %s\n", msg)
		return exitFailed
	}
	if !rep.Passed() {
		return exitFailed
	}
	return exitOK
}

// parseFlagsAnywhere parses flags that may follow positional arguments
// (driftguard test policies --output junit).
func parseFlagsAnywhere(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// after "--" everything is positional
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func indentLines(s, pad string) string {
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}
