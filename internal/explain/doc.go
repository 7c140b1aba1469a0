// Package explain answers "what happens if I edit this object by hand?"
// for one object in a cluster: the checklist platform engineers run by
// hand (driftguard explain <kind>/<name>):
//
//  1. the owner chain, following controlling ownerReferences to the root;
//  2. the reconciler conventions that apply (config ownerKinds, declared
//     owner kinds, Flux/Argo CD tracking) and whether the parent's own
//     settings (pausedWhen, matchLabels) rule a revert out;
//  3. the field managers of every leaf field in managedFields, and which
//     of them are declared owners;
//  4. what driftguard's policies answer to a hand edit of each container
//     image and of the other owned fields (synthetic UPDATE requests run
//     through the real admission engine);
//  5. whether the caller (or --as user) may update, patch and delete it.
//
// It reuses internal/input (ownership, reconciler conventions, path
// syntax) and internal/admit (decisions) rather than re-implementing them.
//
// It is outside the webhook: `driftguard explain` runs it against a
// cluster, sending synthetic requests through the same flow the webhook
// uses.
package explain
