package policy

import (
	"slices"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// A policy says which requests it sees in OPA's METADATA annotation of its
// package: a comment block right above the package line, read at load time
// (not a rule: nothing is evaluated to find out which policies match).
//
//	# METADATA
//	# description: Reject hand edits of Secrets synced by an ExternalSecret.
//	# custom:
//	#   kinds: [Secret]
//	#   operations: [UPDATE, DELETE]
//	package driftguard.policies.externalsecret_owned
//
// Without kinds (or without the block) a policy sees every kind, without
// operations every operation; changes (changes.go) lets an UPDATE that
// changes none of the listed fields skip the policy. custom holds nothing
// else: a misspelt key
// would otherwise widen the policy to every kind or operation unnoticed.
// The old form, a rule meta := {"kinds": ..., "operations": ...,
// "description": ...}, is refused with a message saying how to convert it
// (see oldMetaRule).

// customKeys are the keys of custom: driftguard reads.
var customKeys = []string{"kinds", "operations", "changes"}

var validOps = map[string]bool{"CREATE": true, "UPDATE": true, "DELETE": true, "CONNECT": true, "*": true}

// metadata is what a policy's METADATA says.
type metadata struct {
	kinds, operations []string // nil: every one
	changes           []string // nil: every UPDATE
	parsedChanges     []pathPattern
	description       string
}

// readMetadata reads the package METADATA of each policy of the modules
// (parsed with annotations; rules: the rules each package under
// PackagePrefix defines), by policy name. kinds or operations anywhere
// else (a rule's METADATA, a helper or test package's) are an error: they
// would be ignored.
func readMetadata(modules map[string]*ast.Module, rules map[string]map[string]bool) (map[string]metadata, []*locatedError) {
	out := map[string]metadata{}
	var errs []*locatedError
	for file, m := range modules {
		name, ok := policyName(m)
		policy := ok && isPolicy(rules[name])
		for _, a := range m.Annotations {
			if a.Scope == "package" && policy {
				md, err := parseMetadata(a, m, file, name)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				out[name] = md
				continue
			}
			for _, k := range customKeys {
				if _, ok := a.Custom[k]; ok {
					errs = append(errs, errorAt(customKeyLoc(a, m, k), file,
						"METADATA custom.%s is read only from the METADATA block right above a policy's package line (package driftguard.policies.<name>); here it would be ignored", k))
					break
				}
			}
		}
	}
	return out, errs
}

// parseMetadata checks and reads one policy's package METADATA.
func parseMetadata(a *ast.Annotations, m *ast.Module, file, name string) (metadata, *locatedError) {
	md := metadata{description: a.Description}
	keys := make([]string, 0, len(a.Custom))
	for k := range a.Custom {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(customKeys, k) {
			return md, errorAt(customKeyLoc(a, m, k), file, "policy %s: METADATA custom.%s is not read by driftguard: custom holds only %s and %s",
				name, k, strings.Join(customKeys[:len(customKeys)-1], ", "), customKeys[len(customKeys)-1])
		}
	}
	var err *locatedError
	if md.kinds, err = customStrings(a, m, file, name, "kinds"); err != nil {
		return md, err
	}
	if md.operations, err = customStrings(a, m, file, name, "operations"); err != nil {
		return md, err
	}
	if md.changes, err = customStrings(a, m, file, name, "changes"); err != nil {
		return md, err
	}
	for _, c := range md.changes {
		pat, perr := parsePattern(c)
		if perr != nil {
			return md, errorAt(customKeyLoc(a, m, "changes"), file,
				"policy %s: METADATA custom.changes: %v (a path is field names joined by dots, \"*\" or [*] for any one step, [name] for a name with dots, e.g. spec.template.spec.containers[*].image)", name, perr)
		}
		md.parsedChanges = append(md.parsedChanges, pat)
	}
	for _, o := range md.operations {
		if !validOps[o] {
			return md, errorAt(customKeyLoc(a, m, "operations"), file,
				"policy %s: METADATA custom.operations: %q is not one of CREATE, UPDATE, DELETE, CONNECT, \"*\"", name, o)
		}
	}
	return md, nil
}

// customStrings reads custom.<key>, a non-empty list of non-empty strings
// (nil when absent).
func customStrings(a *ast.Annotations, m *ast.Module, file, name, key string) ([]string, *locatedError) {
	v, ok := a.Custom[key]
	if !ok {
		return nil, nil
	}
	bad := func() ([]string, *locatedError) {
		example := `[Deployment, StatefulSet] ("*" for every one)`
		if key == "changes" {
			example = "[spec.replicas, metadata.labels]"
		}
		return nil, errorAt(customKeyLoc(a, m, key), file,
			"policy %s: METADATA custom.%s must be a non-empty list of strings, e.g. %s, got %v", name, key, example, v)
	}
	arr, ok := v.([]any)
	if !ok || len(arr) == 0 {
		return bad()
	}
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		s, ok := x.(string)
		if !ok || s == "" {
			return bad()
		}
		out = append(out, s)
	}
	return out, nil
}

// customKeyLoc is the location of the line "key:" of an annotation's
// comment block (the block's first line when it is not found), so that an
// error points at the offending line.
func customKeyLoc(a *ast.Annotations, m *ast.Module, key string) *ast.Location {
	loc := a.Location
	if loc == nil {
		return nil
	}
	row := loc.Row
	for _, c := range m.Comments {
		if c.Location == nil || c.Location.Row <= loc.Row || (a.EndLoc() != nil && c.Location.Row > a.EndLoc().Row) {
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(string(c.Text)), key+":") {
			row = c.Location.Row
			break
		}
	}
	return &ast.Location{File: loc.File, Row: row}
}

// oldMetaRule is the error for a policy that still has a meta rule, which
// no longer selects requests: loading it as a policy for every kind and
// operation would change what it sees without a word.
func oldMetaRule(loc *ast.Location, file, name string) *locatedError {
	return errorAt(loc, file, "policy %s: a meta rule no longer selects requests: "+
		"replace it with a METADATA comment block right above the package line, "+
		"\"# METADATA\", \"# description: ...\", \"# custom:\", \"#   kinds: [Deployment]\", \"#   operations: [UPDATE]\" "+
		"(see docs/policy-authoring.md)", name)
}
