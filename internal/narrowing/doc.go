// Package narrowing computes the webhook matchCondition
// a-policy-can-answer from a loaded state (its policies' METADATA kinds
// and operations, their rules, and the config): a CEL expression that is
// true for every request a loaded policy, or the mutating webhook's drift
// record, can answer, so kube-apiserver calls driftguard for nothing else.
// It computes the same clauses as the chart's opt-in template
// (charts/driftguard/templates/_helpers.tpl, driftguard.narrowingExpression
// and driftguard.narrowingMutateExpression), with the kinds per operation
// taken from the loaded policies instead of static lists.
//
// Narrowing fails open: a policy with kinds ["*"] is covered only when it
// is one of the bundled policies whose inputs the expression's clauses
// describe (owned_fields, operator_state, revert_warning, deprecated_apis)
// and it, and every module that could change what it answers, is the
// exact bundled source; any other such policy means no condition at all
// (every request is sent). The server's --narrow-webhooks sets the result
// on the webhook configurations (internal/server).
package narrowing
