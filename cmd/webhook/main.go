// Command driftguard is the driftguard admission webhook and its tools.
//
//	driftguard [serve] [flags]    run the webhook (default)
//	driftguard test [dirs]        run Rego unit tests and fixture suites
//	driftguard eval -f review     answer one review and show why
//	driftguard explain kind/name  owners, conventions, managers, would-be answers
//	driftguard drift [-n ns|-A]   current drift findings per object (exit 1: drift)
//	driftguard version            print the version
//
// Run `driftguard <command> -h` for the flags of a command.
//
// Installed (or linked) as kubectl-driftguard somewhere on PATH, the
// binary is a kubectl plugin: `kubectl driftguard drift`, `kubectl
// driftguard explain deploy/api`; it then never serves.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
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
		{"drift", "list the current drift findings per object (exit 1 when there are any)", runDrift},
		{"version", "print the version", func([]string) int { fmt.Println("driftguard", version); return 0 }},
	}
}

// pluginName is the binary's name as a kubectl plugin: kubectl runs
// kubectl-driftguard for `kubectl driftguard ...`.
const pluginName = "kubectl-driftguard"

// progName is how the usage texts name the program: "driftguard", or
// "kubectl driftguard" when run as the plugin.
var progName = "driftguard"

// isPlugin reports whether argv0 is the plugin's name (kubectl passes the
// plugin's path as argv[0]).
func isPlugin(argv0 string) bool {
	base := filepath.Base(argv0)
	return base == pluginName || strings.EqualFold(base, pluginName+".exe")
}

// pluginCommands are the commands the plugin offers: all but serve.
func pluginCommands() []command {
	var out []command
	for _, c := range commands() {
		if c.name != "serve" {
			out = append(out, c)
		}
	}
	return out
}

// usage lists the commands. Asked for (help, -h, --help) it goes to w =
// stdout; after a mistake to stderr.
func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s <command> [flags]\n\ncommands:\n", progName)
	cs := commands()
	if progName != "driftguard" {
		cs = pluginCommands()
	}
	for _, c := range cs {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	if progName == "driftguard" {
		fmt.Fprintln(w, "\nWithout a command, driftguard serves. Run 'driftguard <command> -h' for the flags of a command.")
		fmt.Fprintln(w, "Installed as "+pluginName+" on PATH, it is a kubectl plugin: kubectl driftguard drift, kubectl driftguard explain.")
		return
	}
	fmt.Fprintf(w, "\nRun '%s <command> -h' for the flags of a command.\n", progName)
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
	if isPlugin(os.Args[0]) {
		os.Exit(runPlugin(os.Args[1:]))
	}
	os.Exit(run(os.Args[1:]))
}

// runPlugin runs a command as `kubectl driftguard <command>`: there is
// no default command, and serve is not one.
func runPlugin(args []string) int {
	progName = "kubectl driftguard"
	defer func() { progName = "driftguard" }()
	if len(args) > 0 && isHelp(args[0]) {
		usage(os.Stdout)
		return 0
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(os.Stderr, "%s: missing command\n", progName)
		usage(os.Stderr)
		return 2
	}
	for _, c := range pluginCommands() {
		if c.name == args[0] {
			return c.run(args[1:])
		}
	}
	fmt.Fprintf(os.Stderr, "%s: unknown command %q\n", progName, args[0])
	usage(os.Stderr)
	return 2
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
