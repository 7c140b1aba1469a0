package input

import (
	"context"
	"time"

	"github.com/driftguard/driftguard/internal/config"
)

// ParentLookup fetches the controlling owner object (for its settings,
// such as spec.paused). Implementations must be fast (cached) and return
// (nil, nil) when the parent is unknown.
type ParentLookup interface {
	Parent(ctx context.Context, apiVersion, kind, namespace, name string) (map[string]any, error)
}

// BaselineLookup tells which permission-baseline needs depend on an RBAC
// object alone (internal/baseline.Keeper implements it). The interface
// and its type live here so that building input needs no cluster client.
type BaselineLookup interface {
	Dependents(kind, namespace, name string) []BaselineNeed
}

// BaselineNeed is one verb on one resource that a service account needs
// (config permissionBaseline), as input.baseline shows it to policies.
type BaselineNeed struct {
	ServiceAccount string // namespace/name
	Verb           string
	Group          string
	Resource       string
	Namespace      string // "" = cluster-wide
	// Text is the need in words, for messages.
	Text string
}

// Builder builds policy input from admission requests. It is immutable
// and safe for concurrent use; build a new one when config changes.
type Builder struct {
	cfg *config.Config
	// by config key: owners[].managers (folded, see lookupManager),
	// owners[].identities.users / .groups / .serviceAccounts, owners[].kinds
	managerOwner        map[string]string
	managerPrefixes     []managerPrefix // owners[].managers ending in * (folded prefixes)
	userOwner           map[string]string
	groupOwner          map[string]string
	serviceAccountOwner map[string]string // namespace/name
	kindOwner           map[config.GroupKind]string
	ownerKinds          map[config.GroupKind]*config.OwnerKind // ownerKinds
	exemptNamespaces    map[string]bool                        // exempt.namespaces
	exemptUsers         map[string]bool                        // exempt.users
	exemptGroups        map[string]bool                        // exempt.groups
	breakGlassGroups    map[string]bool                        // breakGlass.groups
	handEditManagers    map[string]bool                        // handEditManagers (folded)
	versionMatrix       map[string][]matrixEntry               // versionMatrix[].workloads by kind
	matrixInputs        map[string][]matrixInput               // versionMatrix[].inputs by ConfigMap namespace/name
	admins              *admins                                // admins
	parents             ParentLookup
	baseline            BaselineLookup
	scale               ScaleReader // parents of scale requests (scale.go)
	reverts             RevertLookup
	managed             *managedCache
	now                 func() time.Time

	// NoWorkloadFacts leaves input.workload out, so that the bundled
	// library computes the same facts in Rego (workload.go): the
	// reference answers of internal/suite's differential test.
	NoWorkloadFacts bool
}

// managerPrefix is an owners[].managers pattern "prefix*".
type managerPrefix struct{ prefix, owner string }

// WithClock sets the clock break-glass expiries are checked against (tests).
func (b *Builder) WithClock(now func() time.Time) *Builder {
	c := *b
	c.now = now
	return &c
}

// WithBaseline adds the permission-baseline index to RBAC requests' input.
func (b *Builder) WithBaseline(l BaselineLookup) *Builder {
	b.baseline = l
	return b
}

// WithoutCache turns off the managedFields cache (benchmarks of cold
// requests use it).
func (b *Builder) WithoutCache() *Builder {
	c := *b
	c.managed = nil
	return &c
}

// NewBuilder indexes the config for fast lookups.
func NewBuilder(cfg *config.Config, parents ParentLookup) *Builder {
	b := &Builder{
		cfg:                 cfg,
		managerOwner:        map[string]string{},
		userOwner:           map[string]string{},
		groupOwner:          map[string]string{},
		serviceAccountOwner: map[string]string{},
		kindOwner:           map[config.GroupKind]string{},
		ownerKinds:          map[config.GroupKind]*config.OwnerKind{},
		exemptNamespaces:    set(cfg.Exempt.Namespaces),
		exemptUsers:         set(cfg.Exempt.Users),
		exemptGroups:        set(cfg.Exempt.Groups),
		breakGlassGroups:    set(cfg.BreakGlass.Groups),
		handEditManagers:    map[string]bool{},
		versionMatrix:       map[string][]matrixEntry{},
		matrixInputs:        map[string][]matrixInput{},
		admins:              newAdmins(cfg.Admins),
		parents:             parents,
		managed:             newManagedCache(1024),
		now:                 time.Now,
	}
	// manager names match case-insensitively (see lookupManager)
	for _, m := range cfg.HandEditManagers {
		b.handEditManagers[config.FoldManager(m)] = true
	}
	for _, o := range cfg.Owners {
		for _, m := range o.Managers {
			if p, ok := config.ManagerPrefix(m); ok {
				b.managerPrefixes = append(b.managerPrefixes, managerPrefix{prefix: p, owner: o.Name})
				continue
			}
			b.managerOwner[config.FoldManager(m)] = o.Name
		}
		for _, u := range o.Identities.Users {
			b.userOwner[u] = o.Name
		}
		for _, g := range o.Identities.Groups {
			b.groupOwner[g] = o.Name
		}
		for _, sa := range o.Identities.ServiceAccounts {
			b.serviceAccountOwner[sa] = o.Name
		}
		for _, k := range o.Kinds {
			b.kindOwner[k] = o.Name
		}
	}
	for i := range cfg.OwnerKinds {
		k := &cfg.OwnerKinds[i]
		b.ownerKinds[k.GroupKind] = k
	}
	for _, c := range cfg.VersionMatrix {
		for _, w := range c.Workloads {
			b.versionMatrix[w.Kind] = append(b.versionMatrix[w.Kind], matrixEntry{component: c.Name, image: c.Image, w: w})
		}
		for _, in := range c.Inputs {
			b.matrixInputs[in.ConfigMap] = append(b.matrixInputs[in.ConfigMap], matrixInput{component: c.Name, key: in.Key, value: in.Value})
		}
	}
	return b
}

// Config returns the config the builder was made from.
func (b *Builder) Config() *config.Config { return b.cfg }

func set(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}
