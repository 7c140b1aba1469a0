package explain

import (
	"context"

	authorizationv1 "k8s.io/api/authorization/v1"
)

// AccessChecker answers `kubectl auth can-i` questions.
type AccessChecker interface {
	// Review asks whether user/groups may do attrs; an empty user means
	// the caller (SelfSubjectAccessReview).
	Review(ctx context.Context, attrs authorizationv1.ResourceAttributes, user string, groups []string) (authorizationv1.SubjectAccessReviewStatus, error)
	// WhoAmI names the caller (SelfSubjectReview); errors are not fatal.
	WhoAmI(ctx context.Context) (user string, groups []string, err error)
}

// Access is the result of the access reviews.
type Access struct {
	// Method is SelfSubjectAccessReview (the caller) or
	// SubjectAccessReview (the --as user).
	Method string        `json:"method"`
	User   string        `json:"user,omitempty"`
	Groups []string      `json:"groups,omitempty"`
	Checks []AccessCheck `json:"checks"`
}

// AccessCheck is one verb's answer.
type AccessCheck struct {
	Verb    string `json:"verb"`
	Allowed bool   `json:"allowed"`
	Denied  bool   `json:"denied,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Error   string `json:"error,omitempty"`
}

// AccessVerbs are the verbs checked.
var AccessVerbs = []string{"update", "patch", "delete"}

func checkAccess(ctx context.Context, a AccessChecker, t Target, o Options) *Access {
	acc := &Access{Method: "SelfSubjectAccessReview"}
	user, groups := "", []string(nil)
	if o.Impersonate {
		acc.Method, user, groups = "SubjectAccessReview", o.User, o.Groups
		acc.User, acc.Groups = user, groups
	} else if u, g, err := a.WhoAmI(ctx); err == nil {
		acc.User, acc.Groups = u, g
	}
	for _, verb := range AccessVerbs {
		attrs := authorizationv1.ResourceAttributes{
			Namespace: t.Namespace, Verb: verb,
			Group: t.GVR.Group, Version: t.GVR.Version, Resource: t.GVR.Resource, Name: t.Name,
		}
		c := AccessCheck{Verb: verb}
		st, err := a.Review(ctx, attrs, user, groups)
		if err != nil {
			c.Error = err.Error()
		} else {
			c.Allowed, c.Denied, c.Reason = st.Allowed, st.Denied, st.Reason
			if st.EvaluationError != "" {
				c.Error = st.EvaluationError
			}
		}
		acc.Checks = append(acc.Checks, c)
	}
	return acc
}
