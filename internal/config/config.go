package config

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"sigs.k8s.io/yaml"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the embedded default configuration.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// Mode is how a policy's deny results are answered.
type Mode string

const (
	// ModeEnforce answers deny results with a denial.
	ModeEnforce Mode = "enforce"
	// ModeWarn turns deny results into admission warnings.
	ModeWarn Mode = "warn"
	// ModeDryRun only counts deny and warn results.
	ModeDryRun Mode = "dryrun"
)

// Config is the whole configuration file.
type Config struct {
	// Owners are the sources of truth for tenant fields.
	Owners []Owner `json:"owners"`
	// OwnerKinds describe how a kind behaves when it is the controlling
	// owner of an object: whether it reconciles its children and where the
	// real source of their values lives.
	OwnerKinds []OwnerKind `json:"ownerKinds"`
	// Exempt requests are answered "allowed" without evaluation.
	Exempt Exempt `json:"exempt"`
	// BreakGlass lets members of a group push a change past enforce mode
	// by annotating the object with a reason.
	BreakGlass BreakGlass `json:"breakGlass"`
	// Policies sets per-policy modes and parameters, by policy name.
	Policies map[string]PolicyConfig `json:"policies"`
	// DefaultMode applies to policies not named in Policies.
	DefaultMode Mode `json:"defaultMode"`
	// FailurePolicy decides the answer when evaluation fails or runs out
	// of time: "deny" (fail closed, default) or "allow".
	FailurePolicy string `json:"failurePolicy"`
	// EvalTimeout bounds policy evaluation per request; keep it below the
	// webhook timeout of the API server (default 2s).
	EvalTimeout Duration `json:"evalTimeout"`
	// RequestTimeout bounds the whole review (decoding, diff, input and
	// evaluation, waiting for its memory share included); a review out of
	// time is answered per FailurePolicy. Keep it below the webhook
	// timeout of the API server (default 4s, for the chart's 5s).
	RequestTimeout Duration `json:"requestTimeout"`
	// MaxChanges caps the changed leaf fields of an UPDATE that driftguard
	// reviews; more are answered per FailurePolicy without evaluation
	// (default 10000).
	MaxChanges int `json:"maxChanges"`
	// MaxRequestBytes caps the admission review body (default 4.25 MiB:
	// object and oldObject each at most etcd's 1.5 MiB, grown by a third
	// when base64 in JSON, plus the review; see docs/config.md).
	MaxRequestBytes int64 `json:"maxRequestBytes"`
	// DriftAnnotation is where the mutating webhook records allowed hand
	// edits (default driftguard.io/drift).
	DriftAnnotation string `json:"driftAnnotation"`
	// OwnerAnnotation lets an object declare its owner explicitly
	// (default driftguard.io/owner).
	OwnerAnnotation string `json:"ownerAnnotation"`
	// HandEditManagers are managedFields manager names that mean "a person
	// edited this by hand" (kubectl edit/patch/set/...); fields they own on
	// an object a declared owner manages are pre-existing drift.
	HandEditManagers []string `json:"handEditManagers"`
	// VersionMatrix declares the expected image of each component.
	VersionMatrix []Component `json:"versionMatrix"`
	// Audit configures the drift audit loop (serve --cluster).
	Audit Audit `json:"audit"`
	// PermissionBaseline declares what controller service accounts need.
	PermissionBaseline []Baseline `json:"permissionBaseline"`

	// Warnings are problems Validate found that do not stop the config
	// from working (e.g. a manager name spelled unlike the tool writes
	// it). Not part of the file.
	Warnings []string `json:"-"`

	// Admins may change what decides whether driftguard enforces at all:
	// the tenant label of namespaces and driftguard's own settings in the
	// cluster (policy tenancy_guard; input.actor.admin). Absent: the
	// system:masters group.
	Admins Identities `json:"admins"`
}

// Baseline is what one service account needs to keep working.
type Baseline struct {
	// ServiceAccount as namespace/name.
	ServiceAccount string       `json:"serviceAccount"`
	Permissions    []Permission `json:"permissions"`
}

// Permission is a set of verbs on a resource, cluster-wide when Namespace is empty.
type Permission struct {
	Verbs     []string `json:"verbs"`
	Group     string   `json:"group"`
	Resource  string   `json:"resource"`
	Namespace string   `json:"namespace"`
}

// Component is one row of the version matrix.
type Component struct {
	// Name of the component, e.g. kfp-frontend.
	Name string `json:"name"`
	// Image is the expected image reference, e.g. ghcr.io/kubeflow/kfp-frontend:2.5.0.
	Image string `json:"image"`
	// Workloads run the component.
	Workloads []Workload `json:"workloads"`
	// Inputs are reconciler inputs that carry the component's version,
	// e.g. the appVersion key of kubeflow/pipeline-install-config.
	Inputs []ReconcilerInput `json:"inputs"`
}

// ReconcilerInput is a ConfigMap key that must hold an expected value.
type ReconcilerInput struct {
	// ConfigMap as namespace/name.
	ConfigMap string `json:"configMap"`
	Key       string `json:"key"`
	// Value is what the key must hold for the component's version.
	Value string `json:"value"`
}

// Workload names a container of a workload. Empty fields match anything.
type Workload struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Container string `json:"container"`
}

// Audit configures the drift audit.
type Audit struct {
	// Interval between full re-evaluations (default 60s).
	Interval Duration `json:"interval"`
	// Kinds are watched and evaluated by policies' drift rules.
	Kinds []GroupVersionKind `json:"kinds"`
	// Namespaces limits the audit (default: all but the exempt ones).
	Namespaces []string `json:"namespaces"`
	// MaxNamespaceLabels caps distinct namespace label values on drift
	// gauges; the rest are reported as namespace="_other" (default 200).
	MaxNamespaceLabels int `json:"maxNamespaceLabels"`
	// Reports configures the per-object OpenReports reports of each pass.
	Reports AuditReports `json:"reports"`
	// Reverts configures revert detection.
	Reverts Reverts `json:"reverts"`
}

// AuditReports configures the OpenReports Report (per namespace) and
// ClusterReport each audit pass writes.
type AuditReports struct {
	// Enabled writes the reports (default true); read at each pass.
	Enabled *bool `json:"enabled"`
	// MaxResults caps the results of one report (default 1000); the
	// summary still counts every finding.
	MaxResults int `json:"maxResults"`
}

// DefaultReportMaxResults is audit.reports.maxResults when unset.
const DefaultReportMaxResults = 1000

// MaxReportMaxResults bounds audit.reports.maxResults: a report is one
// object in etcd (1.5 MiB by default).
const MaxReportMaxResults = 5000

// On says whether the reports are written.
func (r AuditReports) On() bool { return r.Enabled == nil || *r.Enabled }

// GroupVersionKind names a watched kind.
type GroupVersionKind struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
	// MetadataOnly watches metadata (incl. managedFields and ownerReferences)
	// without the body: enough for ownership drift, and Secret values never
	// enter driftguard's memory.
	MetadataOnly bool `json:"metadataOnly"`
}

// Owner is a declared source of truth (Terraform, an operator, ESO, GitOps).
type Owner struct {
	// Name identifies the owner in config, input and messages.
	Name string `json:"name"`
	// Display is the human name used in messages (default Name).
	Display string `json:"display"`
	// Managers are managedFields manager names that mean "this owner".
	Managers []string `json:"managers"`
	// Identities may write the owner's fields.
	Identities Identities `json:"identities"`
	// Kinds are controlling ownerReference kinds that stand for this owner
	// (e.g. ExternalSecret for ESO): their children are wholly owned.
	Kinds []GroupKind `json:"kinds"`
	// Source tells people where to make the change instead. It may use
	// {namespace}, {name}, {kind}, {ownerName} and {ownerKind}.
	Source string `json:"source"`
}

// Identities are the authenticated users, groups and service accounts of an owner.
type Identities struct {
	Users  []string `json:"users"`
	Groups []string `json:"groups"`
	// ServiceAccounts as "namespace/name".
	ServiceAccounts []string `json:"serviceAccounts"`
}

// GroupKind names a kind by API group (core group is "").
type GroupKind struct {
	Group string `json:"group"`
	Kind  string `json:"kind"`
}

func (g GroupKind) String() string {
	if g.Group == "" {
		return g.Kind
	}
	return g.Kind + "." + g.Group
}

// OwnerKind is the reconciler convention of a controlling owner kind.
type OwnerKind struct {
	GroupKind `json:",inline"`
	// Reconciles is true when the owner rewrites its children from its
	// own inputs, so hand edits of the children are reverted.
	Reconciles bool `json:"reconciles"`
	// Reconciler names who does the reconciling (for messages).
	Reconciler string `json:"reconciler"`
	// Source is where the children's values really come from; same
	// placeholders as Owner.Source.
	Source string `json:"source"`
	// PausedWhen lists dotted paths on the owner object that, when true,
	// mean the owner will not revert (e.g. spec.paused on a Deployment).
	PausedWhen []string `json:"pausedWhen"`
	// Match restricts the convention to owners with these labels
	// (e.g. the metacontroller enrolment label on profile namespaces).
	MatchLabels map[string]string `json:"matchLabels"`
}

// Exempt lists requests that are never evaluated.
type Exempt struct {
	Namespaces []string `json:"namespaces"`
	Users      []string `json:"users"`
	Groups     []string `json:"groups"`
}

// BreakGlass configures the emergency override. A reason in Annotation
// counts only on the request that sets or changes it, or, when
// ExpiresAnnotation holds a time at most MaxDuration ahead, until then.
type BreakGlass struct {
	Groups     []string `json:"groups"`
	Annotation string   `json:"annotation"`
	// ExpiresAnnotation (default <annotation>-expires) holds an RFC 3339
	// time until which the reason also covers later requests.
	ExpiresAnnotation string `json:"expiresAnnotation"`
	// MaxDuration bounds how far ahead an expiry may be (default 4h).
	MaxDuration Duration `json:"maxDuration"`
}

// PolicyConfig is the per-policy configuration.
type PolicyConfig struct {
	Mode Mode `json:"mode"`
	// Params are handed to the policy as data.driftguard.params[<policy>].
	Params map[string]any `json:"params"`
}

// Duration is a time.Duration that reads "2s" from YAML.
type Duration struct{ time.Duration }

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // like every other field: empty means the default
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"2s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalJSON writes a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// Default returns the embedded default configuration.
func Default() *Config {
	c, err := Parse(defaultYAML)
	if err != nil {
		panic("embedded default config is invalid: " + err.Error())
	}
	return c
}

// Load reads and validates a config file. An empty path means the defaults.
func Load(path string) (*Config, error) {
	if path == "" {
		return Default(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes YAML strictly (unknown fields are errors), applies
// defaults and validates.
func Parse(b []byte) (*Config, error) {
	c := &Config{}
	if err := yaml.UnmarshalStrict(b, c); err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) applyDefaults() {
	if c.DefaultMode == "" {
		c.DefaultMode = ModeEnforce
	}
	if c.FailurePolicy == "" {
		c.FailurePolicy = "deny"
	}
	if c.EvalTimeout.Duration == 0 {
		c.EvalTimeout.Duration = 2 * time.Second
	}
	if c.RequestTimeout.Duration == 0 {
		c.RequestTimeout.Duration = DefaultRequestTimeout
	}
	if c.MaxChanges == 0 {
		c.MaxChanges = DefaultMaxChanges
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.DriftAnnotation == "" {
		c.DriftAnnotation = "driftguard.io/drift"
	}
	if c.OwnerAnnotation == "" {
		c.OwnerAnnotation = "driftguard.io/owner"
	}
	if c.BreakGlass.Annotation == "" {
		c.BreakGlass.Annotation = "driftguard.io/break-glass"
	}
	if c.BreakGlass.ExpiresAnnotation == "" {
		c.BreakGlass.ExpiresAnnotation = c.BreakGlass.Annotation + "-expires"
	}
	if c.BreakGlass.MaxDuration.Duration == 0 {
		c.BreakGlass.MaxDuration.Duration = 4 * time.Hour
	}
	if c.HandEditManagers == nil {
		c.HandEditManagers = handEditDefaults()
	}
	if c.Audit.Interval.Duration == 0 {
		c.Audit.Interval.Duration = time.Minute
	}
	if c.Audit.MaxNamespaceLabels == 0 {
		c.Audit.MaxNamespaceLabels = 200
	}
	if c.Audit.Reports.Enabled == nil {
		on := true
		c.Audit.Reports.Enabled = &on
	}
	if c.Audit.Reports.MaxResults == 0 {
		c.Audit.Reports.MaxResults = DefaultReportMaxResults
	}
	c.Audit.Reverts.applyDefaults()
	if c.Admins.Users == nil && c.Admins.Groups == nil && c.Admins.ServiceAccounts == nil {
		c.Admins.Groups = []string{"system:masters"}
	}
	for i := range c.Owners {
		if c.Owners[i].Display == "" {
			c.Owners[i].Display = c.Owners[i].Name
		}
	}
}

// ModeFor returns the mode of a policy.
func (c *Config) ModeFor(policy string) Mode {
	if p, ok := c.Policies[policy]; ok && p.Mode != "" {
		return p.Mode
	}
	return c.DefaultMode
}

// OwnerByName finds a declared owner.
func (c *Config) OwnerByName(name string) *Owner {
	for i := range c.Owners {
		if c.Owners[i].Name == name {
			return &c.Owners[i]
		}
	}
	return nil
}
