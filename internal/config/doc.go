// Package config holds driftguard's configuration: the declared owners of
// tenant fields, the reconciler conventions of owner kinds, exemptions,
// break-glass and per-policy modes. See docs/config.md.
//
// In one request's flow it is read, never changed: internal/loader
// loads and hot-reloads it, internal/input takes owners, exemptions and
// break-glass from it, and internal/admit takes modes and failurePolicy.
package config
