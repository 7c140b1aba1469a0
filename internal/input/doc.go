// Package input turns an AdmissionRequest into the document policies
// evaluate: who is acting, which fields change, who owns them, and what
// the controlling owner will do. docs/policy-input.md describes it.
//
// The files, in the order one request goes through them:
//
//   - builder.go: Builder, the config indexed once per load (NewBuilder),
//     and the lookups it is given (ParentLookup, BaselineLookup).
//   - build.go: Build, the entry point, and Input, its result.
//   - scale.go: scale subresource requests, judged by their parent's
//     ownership (read through a ScaleReader).
//   - decode.go: DecodeObject, the objects without their managedFields.
//   - actor.go: the actor (identity, declared owner) and exemptions;
//     admins.go and breakglass.go: config admins and break-glass.
//   - ownership.go: managedFields parsed into field sets, with a cache.
//   - diff.go: the changed fields of an UPDATE (Diff, DiffLimited).
//   - attribute.go: the owner of the object and of each changed field,
//     and dropped managedFields entries.
//   - document.go: the Rego document (input), built from all of the above.
//   - reconciler.go: what the controlling owner will do (its parent
//     object's settings, through ParentLookup).
//   - matrix.go: the version-matrix rows that apply.
//   - enrich.go: the drift record annotation and the permission-baseline
//     needs that depend on an RBAC object.
//   - live.go: BuildLive, the same document for a live object (the drift
//     audit), with hand edits.
//   - limits.go: Exempt, from the request alone, before decoding.
package input
