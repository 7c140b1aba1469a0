package baseline

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	authzv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/input"
	"github.com/driftguard/driftguard/internal/metrics"
)

// Need is one verb on one resource for one service account.
type Need struct {
	ServiceAccount string `json:"serviceAccount"` // namespace/name
	Verb           string `json:"verb"`
	Group          string `json:"group"`
	Resource       string `json:"resource"`
	Namespace      string `json:"namespace"` // "" = cluster-wide
}

func (n Need) String() string {
	where := "cluster-wide"
	if n.Namespace != "" {
		where = "in " + n.Namespace
	}
	res := n.Resource
	if n.Group != "" {
		res += "." + n.Group
	}
	return fmt.Sprintf("%s %s %s for %s", n.Verb, res, where, n.ServiceAccount)
}

// Needs expands the config into single needs.
func Needs(cfg *config.Config) []Need {
	var out []Need
	for _, b := range cfg.PermissionBaseline {
		for _, p := range b.Permissions {
			for _, v := range p.Verbs {
				out = append(out, Need{b.ServiceAccount, v, p.Group, p.Resource, p.Namespace})
			}
		}
	}
	return out
}

// ObjectKey names an RBAC object.
type ObjectKey struct{ Kind, Namespace, Name string }

// Index maps RBAC objects to the needs that depend on them alone: deleting
// the object (or changing its rules or subjects) would take the need away.
type Index struct {
	Critical map[ObjectKey][]Need
	// Unsatisfied needs have no granting binding at all.
	Unsatisfied []Need
}

// RBAC is a snapshot of the cluster's roles and bindings.
type RBAC struct {
	ClusterRoles        []rbacv1.ClusterRole
	Roles               []rbacv1.Role
	ClusterRoleBindings []rbacv1.ClusterRoleBinding
	RoleBindings        []rbacv1.RoleBinding
}

// BuildIndex computes the critical objects of every need.
func BuildIndex(needs []Need, r RBAC) *Index {
	cr := map[string]*rbacv1.ClusterRole{}
	for i := range r.ClusterRoles {
		cr[r.ClusterRoles[i].Name] = &r.ClusterRoles[i]
	}
	ro := map[string]*rbacv1.Role{}
	for i := range r.Roles {
		ro[r.Roles[i].Namespace+"/"+r.Roles[i].Name] = &r.Roles[i]
	}
	idx := &Index{Critical: map[ObjectKey][]Need{}}
	for _, n := range needs {
		// every way the need is granted: a binding and its role
		var grants [][2]ObjectKey
		for _, b := range r.ClusterRoleBindings {
			if b.RoleRef.Kind != "ClusterRole" || !subjectsMatch(b.Subjects, n.ServiceAccount) {
				continue
			}
			if role := cr[b.RoleRef.Name]; role != nil && rulesGrant(role.Rules, n) {
				grants = append(grants, [2]ObjectKey{{"ClusterRoleBinding", "", b.Name}, {"ClusterRole", "", role.Name}})
			}
		}
		if n.Namespace != "" {
			for _, b := range r.RoleBindings {
				if b.Namespace != n.Namespace || !subjectsMatch(b.Subjects, n.ServiceAccount) {
					continue
				}
				var rules []rbacv1.PolicyRule
				var rk ObjectKey
				switch b.RoleRef.Kind {
				case "ClusterRole":
					if role := cr[b.RoleRef.Name]; role != nil {
						rules, rk = role.Rules, ObjectKey{"ClusterRole", "", role.Name}
					}
				case "Role":
					if role := ro[b.Namespace+"/"+b.RoleRef.Name]; role != nil {
						rules, rk = role.Rules, ObjectKey{"Role", role.Namespace, role.Name}
					}
				}
				if rk.Kind != "" && rulesGrant(rules, n) {
					grants = append(grants, [2]ObjectKey{{"RoleBinding", b.Namespace, b.Name}, rk})
				}
			}
		}
		if len(grants) == 0 {
			idx.Unsatisfied = append(idx.Unsatisfied, n)
			continue
		}
		// an object is critical when every grant goes through it
		for _, k := range grants[0] {
			critical := true
			for _, g := range grants[1:] {
				if g[0] != k && g[1] != k {
					critical = false
					break
				}
			}
			if critical {
				idx.Critical[k] = append(idx.Critical[k], n)
			}
		}
	}
	return idx
}

func subjectsMatch(subjects []rbacv1.Subject, sa string) bool {
	ns, name, _ := strings.Cut(sa, "/")
	for _, s := range subjects {
		switch {
		case s.Kind == "ServiceAccount" && s.Namespace == ns && s.Name == name:
			return true
		case s.Kind == "User" && s.Name == "system:serviceaccount:"+ns+":"+name:
			return true
		case s.Kind == "Group" && (s.Name == "system:serviceaccounts" || s.Name == "system:serviceaccounts:"+ns || s.Name == "system:authenticated"):
			return true
		}
	}
	return false
}

func rulesGrant(rules []rbacv1.PolicyRule, n Need) bool {
	for _, r := range rules {
		if len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 {
			continue
		}
		if has(r.Verbs, n.Verb) && has(r.APIGroups, n.Group) && has(r.Resources, n.Resource) {
			return true
		}
	}
	return false
}

func has(xs []string, x string) bool { return slices.Contains(xs, x) || slices.Contains(xs, "*") }

// Keeper refreshes the index and the SubjectAccessReview checks.
type Keeper struct {
	Reader   client.Reader // informer cache for RBAC objects
	Client   client.Client // creates SubjectAccessReviews
	Config   func() *config.Config
	Metrics  *metrics.Metrics
	Log      logr.Logger
	Interval time.Duration
	index    atomic.Pointer[Index]
	gaps     atomic.Pointer[[]Need]
	seen     map[string]bool
}

// NeedLeaderElection: every replica keeps its own index (admission on
// every replica needs it).
func (k *Keeper) NeedLeaderElection() bool { return false }

// Start refreshes until ctx ends.
func (k *Keeper) Start(ctx context.Context) error {
	for {
		if err := k.Refresh(ctx); err != nil && ctx.Err() == nil {
			k.Log.Error(err, "permission baseline refresh failed")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(k.Interval):
		}
	}
}

// Refresh rebuilds the index from the cache and checks every need.
func (k *Keeper) Refresh(ctx context.Context) error {
	cfg := k.Config()
	needs := Needs(cfg)
	if len(needs) == 0 {
		k.index.Store(&Index{Critical: map[ObjectKey][]Need{}})
		k.gaps.Store(&[]Need{})
		return nil
	}
	var r RBAC
	var crl rbacv1.ClusterRoleList
	var rl rbacv1.RoleList
	var crbl rbacv1.ClusterRoleBindingList
	var rbl rbacv1.RoleBindingList
	for _, l := range []client.ObjectList{&crl, &rl, &crbl, &rbl} {
		if err := k.Reader.List(ctx, l); err != nil {
			return fmt.Errorf("listing RBAC objects: %w", err)
		}
	}
	r.ClusterRoles, r.Roles, r.ClusterRoleBindings, r.RoleBindings = crl.Items, rl.Items, crbl.Items, rbl.Items
	k.index.Store(BuildIndex(needs, r))

	missing := map[string]int{}
	gaps := []Need{}
	for _, b := range cfg.PermissionBaseline {
		missing[b.ServiceAccount] = 0
	}
	for _, n := range needs {
		ok, err := k.check(ctx, n)
		if err != nil {
			if k.Metrics != nil {
				k.Metrics.PermissionChecks.WithLabelValues("error").Inc()
			}
			k.Log.Error(err, "SubjectAccessReview failed", "need", n.String())
			continue
		}
		result := "allowed"
		if !ok {
			result = "denied"
			missing[n.ServiceAccount]++
			gaps = append(gaps, n)
			k.Log.Info("permission baseline gap", "need", n.String())
		}
		if k.Metrics != nil {
			k.Metrics.PermissionChecks.WithLabelValues(result).Inc()
		}
	}
	sort.Slice(gaps, func(i, j int) bool { return gaps[i].String() < gaps[j].String() })
	k.gaps.Store(&gaps)
	if k.Metrics != nil {
		if k.seen == nil {
			k.seen = map[string]bool{}
		}
		for sa := range k.seen {
			if _, ok := missing[sa]; !ok {
				k.Metrics.PermissionMissing.DeleteLabelValues(sa)
			}
		}
		k.seen = map[string]bool{}
		for sa, n := range missing {
			k.Metrics.PermissionMissing.WithLabelValues(sa).Set(float64(n))
			k.seen[sa] = true
		}
	}
	return nil
}

func (k *Keeper) check(ctx context.Context, n Need) (bool, error) {
	ns, name, _ := strings.Cut(n.ServiceAccount, "/")
	sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User:   "system:serviceaccount:" + ns + ":" + name,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
		ResourceAttributes: &authzv1.ResourceAttributes{
			Namespace: n.Namespace, Verb: n.Verb, Group: n.Group, Resource: n.Resource,
		},
	}}
	if err := k.Client.Create(ctx, sar); err != nil {
		return false, err
	}
	return sar.Status.Allowed, nil
}

// Dependents returns the needs that depend on an RBAC object alone,
// sorted by their text; nil when the index is not built yet. It makes
// Keeper an input.BaselineLookup.
func (k *Keeper) Dependents(kind, namespace, name string) []input.BaselineNeed {
	idx := k.index.Load()
	if idx == nil {
		return nil
	}
	needs := idx.Critical[ObjectKey{kind, namespace, name}]
	if len(needs) == 0 {
		return nil
	}
	out := make([]input.BaselineNeed, len(needs))
	for i, n := range needs {
		out[i] = input.BaselineNeed{ServiceAccount: n.ServiceAccount, Verb: n.Verb, Group: n.Group,
			Resource: n.Resource, Namespace: n.Namespace, Text: n.String()}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Text < out[j].Text })
	return out
}

// Gaps are the needs the last refresh found denied (SubjectAccessReview),
// sorted by their text; a need whose check failed is left out. Nil before
// the first refresh.
func (k *Keeper) Gaps() []Need {
	g := k.gaps.Load()
	if g == nil {
		return nil
	}
	return slices.Clone(*g)
}
