package main

import (
	"context"
	"encoding/json"
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
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	crconfig "sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/driftguard/driftguard/internal/explain"
	"github.com/driftguard/driftguard/internal/findings"
	"github.com/driftguard/driftguard/internal/loader"
)

const explainUsage = `usage: driftguard explain <kind>/<name> [-n NAMESPACE] [flags]

Explains what happens to a hand edit of one object: its owner chain, the
reconciler conventions that apply, the field managers of every field, what
driftguard's policies answer to a hand edit of each image and owned field,
and whether you (or --as) may update, patch and delete it.

<kind> is a resource name, short name or kind (deploy, deployments.apps,
Deployment, rs, secret). The cluster comes from --kubeconfig, KUBECONFIG,
the in-cluster config or ~/.kube/config.

flags:
`

func runExplain(args []string) int {
	return explainMain(args, os.Stdout, os.Stderr)
}

func explainMain(args []string, stdout, stderr io.Writer) int {
	ctrl.SetLogger(logr.Discard())
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		namespace   string
		configFile  string
		policyDirs  listFlag
		noBundled   bool
		as          string
		asGroups    listFlag
		output      string
		maxFields   int
		timeout     time.Duration
		kubeContext string
	)
	fs.StringVar(&namespace, "n", "", "namespace (default: the kubeconfig context's, else default)")
	fs.StringVar(&namespace, "namespace", "", "same as -n")
	crconfig.RegisterFlags(fs) // --kubeconfig, read by controller-runtime's config loading
	fs.StringVar(&kubeContext, "context", "", "kubeconfig context (default: the current context)")
	fs.StringVar(&configFile, "config", "", "driftguard config file (YAML); empty: the embedded defaults")
	fs.Var(&policyDirs, "policies", "extra policy directory (repeatable or comma-separated)")
	fs.BoolVar(&noBundled, "no-bundled-policies", false, "do not load the policies embedded in the binary")
	fs.StringVar(&as, "as", "", "user making the simulated hand edits, also checked with a SubjectAccessReview (default \""+explain.DefaultUser+"\"; access is then checked for you)")
	fs.Var(&asGroups, "as-group", "group of the --as user (repeatable); system:authenticated is always added")
	fs.StringVar(&output, "o", "text", "output format: text or json")
	fs.IntVar(&maxFields, "max-fields", explain.DefaultMaxFields, "owned non-image fields whose hand edit is simulated")
	fs.DurationVar(&timeout, "timeout", time.Minute, "give up after this long")
	fs.Usage = func() {
		fmt.Fprint(stderr, strings.Replace(explainUsage, "driftguard ", progName+" ", 1))
		fs.PrintDefaults()
	}
	pos, err := parseFlagsAnywhere(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	kind, name, err := explain.ParseTarget(pos)
	if err != nil {
		fmt.Fprintf(stderr, "driftguard explain: %v\n\n", err)
		fs.Usage()
		return 2
	}
	if output != "text" && output != "json" {
		fmt.Fprintf(stderr, "driftguard explain: -o %q: must be text or json\n", output)
		return 2
	}
	if as == "" && len(asGroups) > 0 {
		fmt.Fprintln(stderr, "driftguard explain: --as-group needs --as")
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	fail := func(err error) int {
		fmt.Fprintf(stderr, "driftguard explain: %v\n", err)
		return 1
	}
	cfg, cl, err := connect(kubeContext)
	if err != nil {
		return fail(err)
	}
	if namespace == "" {
		namespace = kubeconfigNamespace(fs.Lookup(crconfig.KubeconfigFlagName).Value.String(), kubeContext)
	}
	t, err := cl.Resolve(kind, namespace, name)
	if err != nil {
		return fail(err)
	}
	objs := explain.Cached(cl)
	st, err := loader.Load(ctx, loader.Options{ConfigFile: configFile, PolicyDirs: policyDirs, NoBundled: noBundled, Parents: explain.NewParentLookup(objs)})
	if err != nil {
		return fail(fmt.Errorf("loading config and policies: %w", err))
	}
	st.Builder = st.Builder.WithoutCache()
	opts := explain.Options{MaxFields: maxFields}
	if as != "" {
		opts.User, opts.Groups, opts.Impersonate = as, asGroups, true
	}
	env := explain.Env{Objects: objs, State: st, Access: cl}
	if r, err := reportReader(cfg, cl); err == nil {
		env.Since = findings.Since{Reader: r}
	}
	rep, err := explain.Explain(ctx, env, t, opts)
	if err != nil {
		return fail(err)
	}
	if output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fail(err)
		}
		return 0
	}
	if err := rep.WriteText(stdout); err != nil {
		return fail(err)
	}
	return 0
}

// connect reaches the cluster of the kubeconfig context (--kubeconfig,
// KUBECONFIG, in-cluster or ~/.kube/config), with a per-request timeout
// so that an unreachable server fails instead of hanging (explain, drift).
func connect(kubeContext string) (*rest.Config, *explain.Cluster, error) {
	cfg, err := crconfig.GetConfigWithContext(kubeContext)
	if err != nil {
		return nil, nil, &explain.NoClusterError{Err: fmt.Errorf("no kubeconfig (--kubeconfig, KUBECONFIG, in-cluster or ~/.kube/config): %w", err)}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	cl, err := explain.NewCluster(cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, cl, nil
}

// kubeconfigNamespace is the namespace of the kubeconfig's context
// (the current one when kubeContext is empty; "default" when it names
// none), like kubectl's.
func kubeconfigNamespace(path, kubeContext string) string {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		rules.ExplicitPath = path
	}
	ns, _, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext}).Namespace()
	if err != nil || ns == "" {
		return "default"
	}
	return ns
}
