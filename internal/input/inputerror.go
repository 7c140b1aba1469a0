package input

// InputError is a problem that leaves driftguard unable to judge a
// request correctly (as opposed to Notes, which are worth telling but do
// not change the answer). The admission engine answers such a request per
// failurePolicy and counts it in driftguard_input_errors_total{reason}.
type InputError struct {
	// Reason is a bounded metric label, e.g. ReasonParentUnreadable.
	Reason string
	// Msg says what could not be read and why; it is shown to the user.
	Msg string
}

// ReasonParentUnreadable: the object a subresource request writes to
// (the Deployment of deployments/scale) could not be read from the
// cluster, so the ownership of the fields it changes is unknown.
const ReasonParentUnreadable = "parent_unreadable"
