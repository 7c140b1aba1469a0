package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

var (
	nameRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	// service account names are DNS subdomains
	saNameRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$`)
	// policy names are Rego package path segments
	policyRe = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// Validate reports every problem at once, each naming its place, and
// sets Warnings.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	c.Warnings = nil
	warn := func(format string, a ...any) { c.Warnings = append(c.Warnings, fmt.Sprintf(format, a...)) }
	c.checkManagers(bad, warn)
	if !validMode(c.DefaultMode) {
		bad("defaultMode: %q is not one of enforce, warn, dryrun", c.DefaultMode)
	}
	if c.FailurePolicy != "deny" && c.FailurePolicy != "allow" {
		bad("failurePolicy: %q is not one of deny, allow", c.FailurePolicy)
	}
	if c.EvalTimeout.Duration < 0 || c.EvalTimeout.Duration > 29*time.Second {
		bad("evalTimeout: %s must be between 0 and 29s (the API server's webhook timeout is at most 30s)", c.EvalTimeout)
	}
	if c.BreakGlass.MaxDuration.Duration < 0 || c.BreakGlass.MaxDuration.Duration > 7*24*time.Hour {
		bad("breakGlass.maxDuration: %s must be between 0 and 168h (break-glass is for incidents, not standing exceptions)", c.BreakGlass.MaxDuration)
	}
	if c.BreakGlass.ExpiresAnnotation == c.BreakGlass.Annotation {
		bad("breakGlass.expiresAnnotation: must differ from breakGlass.annotation")
	}
	if c.RequestTimeout.Duration < 0 || c.RequestTimeout.Duration > 29*time.Second {
		bad("requestTimeout: %s must be between 0 and 29s (the API server's webhook timeout is at most 30s)", c.RequestTimeout)
	} else if c.EvalTimeout.Duration > c.RequestTimeout.Duration {
		bad("evalTimeout: %s is longer than requestTimeout %s, which bounds the whole review (evaluation included)", c.EvalTimeout, c.RequestTimeout)
	}
	if c.MaxChanges < 0 {
		bad("maxChanges: %d must not be negative", c.MaxChanges)
	}
	if c.MaxRequestBytes < 1024 {
		bad("maxRequestBytes: %d is too small (minimum 1024)", c.MaxRequestBytes)
	}
	seen := map[string]bool{}
	for i, o := range c.Owners {
		at := fmt.Sprintf("owners[%d]", i)
		if !nameRe.MatchString(o.Name) {
			bad("%s.name: %q must be a lower-case DNS label", at, o.Name)
		}
		if seen[o.Name] {
			bad("%s.name: %q is declared twice", at, o.Name)
		}
		seen[o.Name] = true
		if len(o.Managers) == 0 && len(o.Kinds) == 0 {
			bad("%s (%s): needs at least one of managers or kinds, or it can own nothing", at, o.Name)
		}
		if len(o.Identities.Users)+len(o.Identities.Groups)+len(o.Identities.ServiceAccounts) == 0 {
			bad("%s (%s): identities is empty, so nobody could ever write its fields", at, o.Name)
		}
		for j, sa := range o.Identities.ServiceAccounts {
			if ns, n, ok := strings.Cut(sa, "/"); !ok || !nameRe.MatchString(ns) || !saNameRe.MatchString(n) {
				bad("%s.identities.serviceAccounts[%d]: %q must be namespace/name", at, j, sa)
			}
		}
		for j, k := range o.Kinds {
			if k.Kind == "" {
				bad("%s.kinds[%d]: kind is required", at, j)
			}
		}
		if strings.TrimSpace(o.Source) == "" {
			bad("%s (%s): source is required: it tells people where to make the change instead", at, o.Name)
		}
	}
	for j, sa := range c.Admins.ServiceAccounts {
		if ns, n, ok := strings.Cut(sa, "/"); !ok || !nameRe.MatchString(ns) || !saNameRe.MatchString(n) {
			bad("admins.serviceAccounts[%d]: %q must be namespace/name", j, sa)
		}
	}
	for i, k := range c.OwnerKinds {
		if k.Kind == "" {
			bad("ownerKinds[%d]: kind is required", i)
		}
	}
	for i, comp := range c.VersionMatrix {
		if comp.Name == "" || comp.Image == "" {
			bad("versionMatrix[%d]: name and image are required", i)
		}
		if len(comp.Workloads) == 0 && len(comp.Inputs) == 0 {
			bad("versionMatrix[%d] (%s): workloads and inputs are empty, so nothing could be checked", i, comp.Name)
		}
		for j, in := range comp.Inputs {
			if ns, n, ok := strings.Cut(in.ConfigMap, "/"); !ok || ns == "" || n == "" || in.Key == "" {
				bad("versionMatrix[%d].inputs[%d]: configMap must be namespace/name and key is required", i, j)
			}
		}
		for j, w := range comp.Workloads {
			if w.Kind == "" {
				bad("versionMatrix[%d].workloads[%d]: kind is required", i, j)
			}
		}
	}
	for i, bl := range c.PermissionBaseline {
		if ns, n, ok := strings.Cut(bl.ServiceAccount, "/"); !ok || !nameRe.MatchString(ns) || !saNameRe.MatchString(n) {
			bad("permissionBaseline[%d].serviceAccount: %q must be namespace/name", i, bl.ServiceAccount)
		}
		if len(bl.Permissions) == 0 {
			bad("permissionBaseline[%d] (%s): permissions is empty", i, bl.ServiceAccount)
		}
		for j, p := range bl.Permissions {
			if len(p.Verbs) == 0 || p.Resource == "" {
				bad("permissionBaseline[%d].permissions[%d]: verbs and resource are required", i, j)
			}
		}
	}
	for i, k := range c.Audit.Kinds {
		if k.Version == "" || k.Kind == "" {
			bad("audit.kinds[%d]: version and kind are required", i)
		}
	}
	if c.Audit.Interval.Duration < time.Second {
		bad("audit.interval: %s is too short (minimum 1s)", c.Audit.Interval)
	}
	if c.Audit.MaxNamespaceLabels < 0 {
		bad("audit.maxNamespaceLabels: must not be negative")
	}
	if n := c.Audit.Reports.MaxResults; n < 0 || n > MaxReportMaxResults {
		bad("audit.reports.maxResults: %d is out of range (1 to %d; unset means %d)", n, MaxReportMaxResults, DefaultReportMaxResults)
	}
	c.Audit.Reverts.validate(bad)
	errs = append(errs, validateTenancyGuard(c.Policies["tenancy_guard"])...)
	for name, p := range c.Policies {
		if !policyRe.MatchString(name) {
			bad("policies.%s: policy names are lower-case Rego identifiers (a-z, 0-9, _)", name)
		}
		if p.Mode != "" && !validMode(p.Mode) {
			bad("policies.%s.mode: %q is not one of enforce, warn, dryrun", name, p.Mode)
		}
	}
	return errors.Join(errs...)
}

func validMode(m Mode) bool { return m == ModeEnforce || m == ModeWarn || m == ModeDryRun }
