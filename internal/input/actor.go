package input

import (
	"encoding/json"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
)

// Actor is who makes the request.
type Actor struct {
	Username     string
	Groups       []string
	SANamespace  string
	SAName       string
	FieldManager string
	// Owner is the declared owner whose identity the actor is ("" if none).
	Owner string
	// Person is true for users that are neither service accounts nor system identities.
	Person bool
	// BreakGlassReason is the break-glass annotation on the object;
	// BreakGlass is true when it counts for this request (see BreakGlass)
	// and the actor may use it.
	BreakGlassReason string
	BreakGlass       bool
	BreakGlassInfo   BreakGlass
	// Admin is true when the authenticated user is one of config admins.
	Admin bool
}

func (b *Builder) actor(req *admissionv1.AdmissionRequest, obj, old map[string]any) Actor {
	u := req.UserInfo
	a := Actor{Username: u.Username, Groups: u.Groups}
	if rest, ok := strings.CutPrefix(u.Username, "system:serviceaccount:"); ok {
		a.SANamespace, a.SAName, _ = strings.Cut(rest, ":")
	}
	a.Person = a.SAName == "" && !strings.HasPrefix(u.Username, "system:") && u.Username != ""
	a.FieldManager = fieldManager(req.Options.Raw)
	// authenticated identity decides; the field manager is only a hint
	if o, ok := b.userOwner[u.Username]; ok {
		a.Owner = o
	} else if o, ok := b.serviceAccountOwner[a.SANamespace+"/"+a.SAName]; ok && a.SAName != "" {
		a.Owner = o
	} else {
		for _, g := range u.Groups {
			if o, ok := b.groupOwner[g]; ok {
				a.Owner = o
				break
			}
		}
	}
	a.Admin = b.admins.is(&a)
	a.BreakGlassInfo = b.readBreakGlass(u.Groups, obj, old)
	a.BreakGlassReason, a.BreakGlass = a.BreakGlassInfo.Reason, a.BreakGlassInfo.Allowed
	return a
}

func fieldManager(opts []byte) string {
	if len(opts) == 0 {
		return ""
	}
	var o struct {
		FieldManager string `json:"fieldManager"`
	}
	_ = json.Unmarshal(opts, &o)
	return o.FieldManager
}

func (b *Builder) exempt(req *admissionv1.AdmissionRequest) string {
	if b.exemptNamespaces[req.Namespace] {
		return "namespace " + req.Namespace + " is exempt"
	}
	if b.exemptUsers[req.UserInfo.Username] {
		return "user " + req.UserInfo.Username + " is exempt"
	}
	for _, g := range req.UserInfo.Groups {
		if b.exemptGroups[g] {
			return "group " + g + " is exempt"
		}
	}
	return ""
}
