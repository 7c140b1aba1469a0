package config

import (
	"fmt"
	"strings"
)

// KnownTool is a tool and the managedFields manager names it writes.
type KnownTool struct {
	Tool     string
	Managers []string
}

// KnownManagers are the managedFields manager names real tools write, as
// they write them. Manager names in config match case-insensitively; a
// name that differs from one of these only by case works but draws a
// warning that names the real spelling.
var KnownManagers = []KnownTool{
	// typed resources (kubernetes_deployment_v1, ...) write with an Update
	// operation as "HashiCorp"; kubernetes_manifest applies as "Terraform"
	{"the Terraform kubernetes provider", []string{"Terraform", "HashiCorp"}},
	{"Helm", []string{"helm"}},
	// server-side apply, and the Update of client-side apply
	{"Argo CD", []string{"argocd-controller", "argocd-application-controller"}},
	{"Flux", []string{"kustomize-controller", "helm-controller"}},
	// ExternalSecrets' Secrets are written as
	// externalsecrets.external-secrets.io/<ExternalSecret name> (seen from
	// v0.16.2 in the e2e suite); "external-secrets" is the controller's
	// own name elsewhere
	{"External Secrets Operator", []string{"external-secrets", "externalsecrets.external-secrets.io/*"}},
	{"kubectl", []string{"kubectl", "kubectl-client-side-apply", "kubectl-edit", "kubectl-patch", "kubectl-set",
		"kubectl-replace", "kubectl-label", "kubectl-annotate", "kubectl-scale", "kubectl-rollout", "kubectl-create",
		"kubectl-expose", "kubectl-run", "kubectl-autoscale"}},
}

// handEditDefaults are kubectl's managers (KnownManagers), the default of
// handEditManagers.
func handEditDefaults() []string {
	for _, t := range KnownManagers {
		if t.Tool == "kubectl" {
			return append([]string(nil), t.Managers...)
		}
	}
	return nil
}

// FoldManager is the form in which manager names are compared: ASCII
// letters lower-cased, everything else as it is.
func FoldManager(name string) string {
	for i := 0; i < len(name); i++ {
		if c := name[i]; 'A' <= c && c <= 'Z' {
			b := []byte(name)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return name
}

// ManagerPrefix returns the prefix of a manager pattern ("name/*" matches
// every manager name starting with "name/"); ok is false for a plain name.
func ManagerPrefix(pattern string) (prefix string, ok bool) {
	if len(pattern) > 1 && pattern[len(pattern)-1] == '*' {
		return FoldManager(pattern[:len(pattern)-1]), true
	}
	return "", false
}

// ManagerMatches reports whether a managedFields manager name matches a
// configured name or "prefix*" pattern, case-insensitively.
func ManagerMatches(pattern, manager string) bool {
	if p, ok := ManagerPrefix(pattern); ok {
		f := FoldManager(manager)
		return len(f) > len(p) && f[:len(p)] == p
	}
	return FoldManager(pattern) == FoldManager(manager)
}

// knownByFold indexes KnownManagers: folded name -> spelling and tool.
var knownByFold = func() map[string][2]string {
	m := map[string][2]string{}
	for _, t := range KnownManagers {
		for _, n := range t.Managers {
			m[FoldManager(n)] = [2]string{n, t.Tool}
		}
	}
	return m
}()

// checkManagers validates manager names: two owners claiming the same
// manager up to case is an error (bad); a name repeated up to case, or
// spelled unlike the tool that writes it, is a warning (warn).
func (c *Config) checkManagers(bad, warn func(format string, a ...any)) {
	spelling := func(at, m string) {
		if k, ok := knownByFold[FoldManager(m)]; ok && k[0] != m {
			warn("%s: manager %q differs from %s's %q only by case; it matches (manager names match case-insensitively), but write %q", at, m, k[1], k[0], k[0])
		}
	}
	owner := map[string]string{}     // folded -> owner name
	firstName := map[string]string{} // folded -> the name as first written
	for i, o := range c.Owners {
		at := fmt.Sprintf("owners[%d].managers", i)
		for _, m := range o.Managers {
			if strings.Contains(strings.TrimSuffix(m, "*"), "*") || m == "*" {
				bad("%s: %q: a * may only end a name (\"prefix/*\" matches every manager starting with \"prefix/\"); a bare * would make every writer the owner", at, m)
				continue
			}
			f := FoldManager(m)
			if prev, ok := owner[f]; ok {
				if prev != o.Name {
					bad("%s: %q is already a manager of owner %q (manager names match case-insensitively)", at, m, prev)
				} else if firstName[f] != m {
					warn("%s: %q repeats %q (manager names match case-insensitively)", at, m, firstName[f])
				}
				continue
			}
			owner[f], firstName[f] = o.Name, m
			spelling(at, m)
		}
	}
	seen := map[string]string{}
	for _, m := range c.HandEditManagers {
		f := FoldManager(m)
		if o, ok := owner[f]; ok {
			warn("handEditManagers: %q is also a manager of owner %q, whose writes are then reported as hand edits", m, o)
		}
		if prev, ok := seen[f]; ok && prev != m {
			warn("handEditManagers: %q repeats %q (manager names match case-insensitively)", m, prev)
			continue
		}
		seen[f] = m
		spelling("handEditManagers", m)
	}
}
