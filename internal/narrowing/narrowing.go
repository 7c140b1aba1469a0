package narrowing

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/policy"
)

// Name is the matchCondition's name.
const Name = "a-policy-can-answer"

// Conditions are the a-policy-can-answer expressions of the validating
// and the mutating webhook entries.
type Conditions struct {
	Validate, Mutate string
	// Wide, when not empty, says why there is no condition: every request
	// is to be sent (Validate and Mutate are then empty).
	Wide string
}

// Narrowed reports whether there is a condition.
func (c Conditions) Narrowed() bool { return c.Wide == "" }

// operations are the admission operations a kinds clause is made for.
var operations = []string{"CREATE", "UPDATE", "DELETE", "CONNECT"}

// For computes the conditions of a loaded state, whose policies were
// compiled from sources (loader.Sources: they tell a bundled policy from
// an edited copy).
func For(st *admit.State, sources []policy.Source) (Conditions, error) {
	b, err := theBundle()
	if err != nil {
		return Conditions{}, err
	}
	loaded, err := parse(sources, b.pkgs)
	if err != nil {
		return Conditions{}, err
	}
	cfg := st.Config
	trust := trusted(loaded, b, append(slices.Clone(marksPolicies), byNamePolicies...))

	kinds := map[string][]string{}
	configMapByKind := false // a policy that is not in byNamePolicies lists ConfigMap
	patches := false
	for _, p := range st.Policies.Policies {
		if p.Has("patch") {
			patches = true
		}
		if slices.Contains(p.Kinds, "*") {
			if !slices.Contains(marksPolicies, p.Name) {
				return Conditions{Wide: fmt.Sprintf("policy %s has kinds [\"*\"]", p.Name)}, nil
			}
			if !trust[p.Name] {
				return Conditions{Wide: fmt.Sprintf("policy %s has kinds [\"*\"] and is not the bundled copy", p.Name)}, nil
			}
			continue
		}
		if slices.Contains(p.Kinds, "ConfigMap") && !(slices.Contains(byNamePolicies, p.Name) && trust[p.Name]) {
			configMapByKind = true
		}
		for _, op := range operations {
			if slices.Contains(p.Operations, "*") || slices.Contains(p.Operations, op) {
				kinds[op] = append(kinds[op], p.Kinds...)
			}
		}
	}
	if !configMapByKind {
		for op := range kinds {
			kinds[op] = slices.DeleteFunc(kinds[op], func(k string) bool { return k == "ConfigMap" })
		}
	}

	parts := []string{"has(request.subResource) && request.subResource != ''"}
	for _, op := range operations {
		if op == "CONNECT" && len(kinds[op]) == 0 {
			continue // the chart's condition has no CONNECT clause
		}
		parts = append(parts, fmt.Sprintf("request.operation == '%s' && request.kind.kind in %s", op, celList(uniqSorted(kinds[op]))))
	}
	var audited []string
	for _, k := range cfg.Audit.Kinds {
		audited = append(audited, k.Kind)
	}
	parts = append(parts,
		fmt.Sprintf("request.operation == 'UPDATE' && request.kind.kind in %s && has(request.userInfo.username) && request.userInfo.username != '' && !request.userInfo.username.startsWith('system:')", celList(uniqSorted(audited))),
		"request.operation in ['CREATE', 'UPDATE'] && "+deprecatedClause(cfg, b),
		"request.operation == 'UPDATE' && "+updateMarks(cfg),
		"request.operation == 'DELETE' && "+deleteMarks(cfg))
	if !configMapByKind {
		parts = append(parts, fmt.Sprintf("request.kind.kind == 'ConfigMap' && request.kind.group == '' && ((has(request.namespace) ? request.namespace : '') + '/' + (has(request.name) ? request.name : '')) in %s", celList(uniqSorted(namedConfigMaps(cfg)))))
	}
	validate := strings.Join(parts, " ||\n")
	return Conditions{Validate: validate, Mutate: mutate(cfg, validate, patches)}, nil
}

// mutate is the mutating entries' condition: the mutating webhook answers
// with a patch to keep the drift record, to record the hand edits that
// warn mode or break glass allow, and with policies' patch rules.
func mutate(cfg *config.Config, validate string, patches bool) string {
	everything := patches || cfg.DefaultMode == config.ModeWarn
	for _, p := range cfg.Policies {
		if p.Mode == config.ModeWarn {
			everything = true
		}
	}
	if everything {
		return validate
	}
	return fmt.Sprintf("[oldObject, object].exists(o, o != null && has(o.metadata) && has(o.metadata.annotations) && %s in o.metadata.annotations) ||\nhas(request.userInfo.groups) && request.userInfo.groups.exists(g, g in %s) && (\n%s)",
		celString(cfg.DriftAnnotation), celList(cfg.BreakGlass.Groups), validate)
}

// params is a policy's params from config (nil: none).
func params(cfg *config.Config, name string) map[string]any {
	if p, ok := cfg.Policies[name]; ok {
		return p.Params
	}
	return nil
}

// stringList reads a config list of strings (a params value).
func stringList(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	if ss, ok := v.([]string); ok {
		out = append(out, ss...)
	}
	return out
}

// namedConfigMaps are the namespace/name of the ConfigMaps tenancy_guard
// protects and the versionMatrix inputs.
func namedConfigMaps(cfg *config.Config) []string {
	out := stringList(params(cfg, "tenancy_guard")["protectedConfigMaps"])
	for _, c := range cfg.VersionMatrix {
		for _, in := range c.Inputs {
			out = append(out, in.ConfigMap)
		}
	}
	return out
}

// deprecatedClause is true for a request made in a version deprecated_apis
// warns about (its builtin table and params.extra).
func deprecatedClause(cfg *config.Config, b bundle) string {
	var gvs, gvks []string
	rows := slices.Clone(b.deprecated)
	if extra, ok := params(cfg, "deprecated_apis")["extra"].([]any); ok {
		for _, r := range extra {
			rows = append(rows, rowOf(r))
		}
	}
	for _, r := range rows {
		gv := r.version
		if r.group != "" {
			gv = r.group + "/" + r.version
		}
		if r.kind == "*" {
			gvs = append(gvs, gv)
		} else {
			gvks = append(gvks, gv+"/"+r.kind)
		}
	}
	gvOf := "(k.group == '' ? k.version : k.group + '/' + k.version)"
	return fmt.Sprintf("(has(request.requestKind) ? [request.kind, request.requestKind] : [request.kind]).exists(k, %s in %s || %s + '/' + k.kind in %s)",
		gvOf, celList(uniqSorted(gvs)), gvOf, celList(uniqSorted(gvks)))
}

// marks is true for an object o showing what the kinds ["*"] policies and
// the drift record read: the owner or drift annotation, an operator
// bookkeeping annotation, an Argo CD tracking id, a Flux Kustomization
// label, or a managedFields entry of a declared owner's manager.
func marks(cfg *config.Config) string {
	var managers, prefixes []string
	for _, o := range cfg.Owners {
		for _, m := range o.Managers {
			if p, ok := config.ManagerPrefix(m); ok {
				prefixes = append(prefixes, p)
			} else {
				managers = append(managers, config.FoldManager(m))
			}
		}
	}
	// (config.Parse fills in the default annotations)
	annotations := []string{cfg.OwnerAnnotation, cfg.DriftAnnotation, "argocd.argoproj.io/tracking-id"}
	bookkeeping := []string{"kopf.zalando.org/"}
	if p, ok := params(cfg, "operator_state")["annotationPrefixes"]; ok {
		bookkeeping = stringList(p)
	}
	mf := fmt.Sprintf("m.manager.lowerAscii() in %s", celList(uniqSorted(managers)))
	for _, p := range uniqSorted(prefixes) {
		mf += fmt.Sprintf(" || m.manager.lowerAscii().startsWith(%s)", celString(p))
	}
	return fmt.Sprintf("(has(o.metadata.annotations) && (o.metadata.annotations.exists(k, k in %s || %s)) || has(o.metadata.labels) && o.metadata.labels.exists(k, k in %s) || has(o.metadata.managedFields) && o.metadata.managedFields.exists(m, has(m.manager) && (%s)))",
		celList(annotations), celPrefixes("k", uniqSorted(bookkeeping)), celList([]string{"kustomize.toolkit.fluxcd.io/name"}), mf)
}

const controller = "has(o.metadata.ownerReferences) && o.metadata.ownerReferences.exists(r, has(r.controller) && r.controller"

// updateMarks: oldObject or object shows a mark or a controller
// ownerReference.
func updateMarks(cfg *config.Config) string {
	return fmt.Sprintf("[oldObject, object].exists(o, o != null && has(o.metadata) && (%s || %s)))", marks(cfg), controller)
}

// deleteMarks: oldObject shows a mark or a controller ownerReference of a
// kind a declared owner has.
func deleteMarks(cfg *config.Config) string {
	var kinds []string
	for _, o := range cfg.Owners {
		for _, k := range o.Kinds {
			kinds = append(kinds, k.Kind)
		}
	}
	return fmt.Sprintf("[oldObject].exists(o, o != null && has(o.metadata) && (%s || %s && has(r.kind) && r.kind in %s)))", marks(cfg), controller, celList(uniqSorted(kinds)))
}

func uniqSorted(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return slices.Compact(out)
}
