// Command driftguard is the driftguard admission webhook and its tools.
//
//	driftguard [serve] [flags]    run the webhook (default)
//	driftguard test [dirs]        run Rego unit tests and fixture suites
//	driftguard eval -f review     answer one review and show why
//	driftguard explain kind/name  owners, conventions, managers, would-be answers
//	driftguard version            print the version
//
// Run `driftguard <command> -h` for the flags of a command.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

type command struct {
	name    string
	summary string
	run     func(args []string) int
}

func commands() []command {
	return []command{
		{"serve", "run the admission webhook (default command)", runServe},
		{"test", "run Rego unit tests and fixture suites (*.suite.yaml) of policies", runTest},
		{"eval", "answer one AdmissionReview and show which policy said what", runEval},
		{"explain", "explain who owns an object's fields and what a hand edit of it meets", runExplain},
		{"version", "print the version", func([]string) int { fmt.Println("driftguard", version); return 0 }},
	}
}

// usage lists the commands. Asked for (help, -h, --help) it goes to w =
// stdout; after a mistake to stderr.
func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: driftguard <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nWithout a command, driftguard serves. Run 'driftguard <command> -h' for the flags of a command.")
}

// isHelp reports whether arg asks for help the way the flag package
// understands it (-h, -help, --h, --help).
func isHelp(arg string) bool {
	switch arg {
	case "help", "-h", "-help", "--h", "--help":
		return true
	}
	return false
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) > 0 && isHelp(args[0]) {
		usage(os.Stdout)
		return 0
	}
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(args)
		}
	}
	fmt.Fprintf(os.Stderr, "driftguard: unknown command %q\n", name)
	usage(os.Stderr)
	return 2
}
