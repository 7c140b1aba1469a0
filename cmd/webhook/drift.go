package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crconfig "sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/driftguard/driftguard/internal/explain"
	"github.com/driftguard/driftguard/internal/findings"
	"github.com/driftguard/driftguard/internal/loader"
)

const driftUsage = `usage: driftguard drift [-n NAMESPACE | -A] [--live] [-o table|wide|json|yaml] [flags]

Lists the current drift findings, one row per finding of one policy on
one object: NAMESPACE KIND NAME POLICY FIELD OWNER SINCE (and MESSAGE
with -o wide, json or yaml). Values are never shown.

By default the findings are read from the OpenReports Reports that
driftguard's audit writes (Report "driftguard" in each namespace,
ClusterReport "driftguard" for cluster-scoped findings, listed with -A).
With --live the config's audit kinds are listed from the API server and
evaluated with the policies' drift rules right here, as the audit does:
no reports and no running driftguard needed (--config, --policies and
--no-bundled-policies as for serve).

Exit status: 0 no drift, 1 drift found, 2 error (unreachable cluster,
no such namespace, no reports CRDs, objects that could not be evaluated). Use it as a gate
to prove restart safety before touching a controller-heavy stack: hand
edits of owned fields, version matrix mismatches, latent OnDelete
drift and permission baseline gaps are all findings that a restart or a
re-apply would turn into changes.

flags:
`

func runDrift(args []string) int {
	return driftMain(args, os.Stdout, os.Stderr)
}

func driftMain(args []string, stdout, stderr io.Writer) int {
	ctrl.SetLogger(logr.Discard())
	fs := flag.NewFlagSet("drift", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		namespace   string
		all         bool
		live        bool
		output      string
		kubeContext string
		configFile  string
		policyDirs  listFlag
		noBundled   bool
		timeout     time.Duration
	)
	fs.StringVar(&namespace, "n", "", "namespace (default: the kubeconfig context's, else default)")
	fs.StringVar(&namespace, "namespace", "", "same as -n")
	fs.BoolVar(&all, "A", false, "all namespaces, and cluster-scoped findings")
	fs.BoolVar(&all, "all-namespaces", false, "same as -A")
	fs.BoolVar(&live, "live", false, "evaluate the live objects instead of reading driftguard's reports")
	fs.StringVar(&output, "o", "table", "output format: "+strings.Join(findings.Formats, ", "))
	fs.StringVar(&output, "output", "table", "same as -o")
	crconfig.RegisterFlags(fs) // --kubeconfig, read by controller-runtime's config loading
	fs.StringVar(&kubeContext, "context", "", "kubeconfig context (default: the current context)")
	fs.StringVar(&configFile, "config", "", "with --live: driftguard config file (YAML); empty: the embedded defaults")
	fs.Var(&policyDirs, "policies", "with --live: extra policy directory (repeatable or comma-separated)")
	fs.BoolVar(&noBundled, "no-bundled-policies", false, "with --live: do not load the policies embedded in the binary")
	fs.DurationVar(&timeout, "timeout", time.Minute, "give up after this long")
	fs.Usage = func() {
		fmt.Fprint(stderr, strings.Replace(driftUsage, "driftguard ", progName+" ", 1))
		fs.PrintDefaults()
	}
	pos, err := parseFlagsAnywhere(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return findings.ExitError
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "%s drift: "+format+"\n", append([]any{progName}, a...)...)
		return findings.ExitError
	}
	if len(pos) > 0 {
		return bad("unexpected arguments %q", pos)
	}
	if !findings.ValidFormat(output) {
		return bad("-o %q: want one of %s", output, strings.Join(findings.Formats, ", "))
	}
	if all && namespace != "" {
		return bad("-A and -n %s: choose one", namespace)
	}
	if !live && (configFile != "" || len(policyDirs) > 0 || noBundled) {
		return bad("--config, --policies and --no-bundled-policies need --live (the reports were written with the serving policies)")
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	fail := func(err error) int { return bad("%v", err) }
	cfg, cl, err := connect(kubeContext)
	if err != nil {
		return fail(err)
	}
	sc := findings.Scope{AllNamespaces: all, Namespace: namespace}
	if !all && namespace == "" {
		sc.Namespace = kubeconfigNamespace(fs.Lookup(crconfig.KubeconfigFlagName).Value.String(), kubeContext)
	}
	if err := findings.CheckNamespace(ctx, cl, sc); err != nil {
		return fail(err)
	}
	var list *findings.List
	if live {
		list, err = driftLive(ctx, cfg, cl, sc, loader.Options{ConfigFile: configFile, PolicyDirs: policyDirs, NoBundled: noBundled})
	} else {
		var r client.Reader
		if r, err = reportReader(cfg, cl); err == nil {
			list, err = findings.Reports(ctx, r, sc)
		}
	}
	if err != nil {
		return fail(err)
	}
	if err := findings.Write(stdout, list, output); err != nil {
		return fail(err)
	}
	if list.Errors > 0 && output != "table" && output != "wide" {
		// the table's summary says it; JSON and YAML readers get it here
		fmt.Fprintln(stderr, findings.Summary(list))
	}
	return list.ExitCode()
}

// driftLive evaluates the live objects of the scope.
func driftLive(ctx context.Context, cfg *rest.Config, cl *explain.Cluster, sc findings.Scope, opts loader.Options) (*findings.List, error) {
	md, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	opts.Parents = explain.NewParentLookup(explain.Cached(cl))
	st, err := loader.Load(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("loading config and policies: %w", err)
	}
	return findings.Live(ctx, st, findings.ClusterLister{Mapper: cl.Mapper, Dynamic: cl.Dynamic, Metadata: md}, sc)
}

// reportReader is a client that reads the OpenReports types.
func reportReader(cfg *rest.Config, cl *explain.Cluster) (client.Reader, error) {
	sc, err := findings.Scheme()
	if err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: sc, Mapper: cl.Mapper})
}
