// Package revert notices reverts as they happen: a field that a person
// changed (a hand-edit manager such as kubectl-edit wrote it) set back to
// its previous value by another manager within a window. It watches the
// updates of the audited kinds that the audit leader's informers already
// see, keeps a bounded table of recent hand edits, and reports each
// revert with the field, who edited, who reverted and after how long; it
// also says whether driftguard predicted the revert (a revert warning at
// admission), so predictions can be counted as come true, not come true
// or missed.
//
// It compares values only as hashes and keeps no value but image
// references (to flag a revert to an older tag); Secret values never
// enter its state.
package revert
