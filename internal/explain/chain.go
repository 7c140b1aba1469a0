package explain

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// maxChain bounds the owner chain (real chains are 2-4 long).
const maxChain = 32

// Chain ends.
const (
	EndRoot        = "root"         // the last link has no controlling ownerReference
	EndMissing     = "missing"      // an owner does not exist
	EndUIDMismatch = "uid-mismatch" // an object of that name exists, but not the referenced one
	EndCycle       = "cycle"        // an owner is already in the chain
	EndError       = "error"        // an owner could not be read or its kind is unknown
	EndInvalid     = "invalid"      // a reference Kubernetes does not honour
	EndTooLong     = "too-long"     // more than maxChain links
)

// Chain is the owner chain: the object first, then its controlling owner,
// that owner's controlling owner, and so on.
type Chain struct {
	Links []Link `json:"links"`
	// End says why the chain stops (EndRoot when it reached the top);
	// EndNote says it in words.
	End     string `json:"end"`
	EndNote string `json:"endNote"`

	objs []map[string]any // the objects of the found links
}

// Link is one object of the chain.
type Link struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	UID        string `json:"uid,omitempty"`
	// Found is false for an owner that could not be read (the last link).
	Found bool `json:"found"`
	// OtherOwners are non-controlling ownerReferences ("Kind name").
	OtherOwners []string `json:"otherOwners,omitempty"`
}

func (l Link) String() string { return ref(l.Kind, l.Namespace, l.Name) }

// GroupKind is the link's API group and kind.
func (l Link) GroupKind() schema.GroupKind {
	gv, _ := schema.ParseGroupVersion(l.APIVersion)
	return schema.GroupKind{Group: gv.Group, Kind: l.Kind}
}

// OwnerChain follows controlling ownerReferences from obj up to the root,
// reading each owner through objs. It stops at a missing owner, at an
// owner whose uid is not the referenced one, and at a cycle, and says so.
func OwnerChain(ctx context.Context, objs Objects, obj map[string]any) Chain {
	c := Chain{}
	first := linkOf(obj)
	c.Links = append(c.Links, first)
	c.objs = append(c.objs, obj)
	visited := map[string]bool{identity(first): true}
	cur, curLink := obj, first
	for {
		r := controllerRef(obj2md(cur))
		if r == nil {
			c.End, c.EndNote = EndRoot, curLink.String()+" has no controlling ownerReference: it is the root"
			return c
		}
		if len(c.Links) > maxChain {
			c.End, c.EndNote = EndTooLong, fmt.Sprintf("stopped after %d owners", maxChain)
			return c
		}
		l := Link{APIVersion: r.APIVersion, Kind: r.Kind, Name: r.Name, UID: r.UID}
		namespaced, err := objs.Namespaced(r.APIVersion, r.Kind)
		if err != nil {
			c.Links = append(c.Links, l)
			c.End, c.EndNote = EndError, fmt.Sprintf("cannot look up owner kind %s %s: %v", r.APIVersion, r.Kind, err)
			return c
		}
		if namespaced {
			if curLink.Namespace == "" {
				c.Links = append(c.Links, l)
				c.End, c.EndNote = EndInvalid, fmt.Sprintf("%s is cluster-scoped but references namespaced owner %s %s; Kubernetes ignores such references", curLink, r.Kind, r.Name)
				return c
			}
			l.Namespace = curLink.Namespace
		}
		if visited[identity(l)] {
			l.Found = true
			c.Links = append(c.Links, l)
			c.End, c.EndNote = EndCycle, fmt.Sprintf("ownership cycle: %s is already in the chain", l)
			return c
		}
		parent, err := objs.Get(ctx, r.APIVersion, r.Kind, l.Namespace, r.Name)
		switch {
		case IsNotFound(err):
			c.Links = append(c.Links, l)
			c.End, c.EndNote = EndMissing, fmt.Sprintf("owner %s (uid %s) does not exist: the chain stops here (the garbage collector deletes dependents of a deleted owner unless they were orphaned)", l, orNone(r.UID))
			return c
		case err != nil:
			c.Links = append(c.Links, l)
			c.End, c.EndNote = EndError, fmt.Sprintf("cannot read owner %s: %v", l, err)
			return c
		}
		got := linkOf(parent)
		if r.UID != "" && got.UID != "" && got.UID != r.UID {
			c.Links = append(c.Links, l)
			c.End, c.EndNote = EndUIDMismatch, fmt.Sprintf("%s exists but has uid %s, not the referenced %s: the referenced owner was deleted and this is another object of the same name", l, got.UID, r.UID)
			return c
		}
		got.APIVersion = orDefault(got.APIVersion, r.APIVersion)
		got.Kind = orDefault(got.Kind, r.Kind)
		got.Found = true
		c.Links = append(c.Links, got)
		c.objs = append(c.objs, parent)
		visited[identity(got)] = true
		cur, curLink = parent, got
	}
}

func linkOf(obj map[string]any) Link {
	md := obj2md(obj)
	l := Link{
		APIVersion: str(obj["apiVersion"]), Kind: str(obj["kind"]),
		Namespace: str(md["namespace"]), Name: str(md["name"]), UID: str(md["uid"]),
		Found: true,
	}
	refs, _ := md["ownerReferences"].([]any)
	for _, r := range refs {
		m, _ := r.(map[string]any)
		if c, _ := m["controller"].(bool); c {
			continue
		}
		l.OtherOwners = append(l.OtherOwners, str(m["kind"])+" "+str(m["name"]))
	}
	return l
}

// identity is how cycles are found: the uid, or the full name without one.
func identity(l Link) string {
	if l.UID != "" {
		return l.UID
	}
	return l.GroupKind().String() + "/" + l.Namespace + "/" + l.Name
}

type ownerRef struct{ APIVersion, Kind, Name, UID string }

func controllerRef(md map[string]any) *ownerRef {
	refs, _ := md["ownerReferences"].([]any)
	for _, r := range refs {
		m, _ := r.(map[string]any)
		if c, _ := m["controller"].(bool); c {
			return &ownerRef{APIVersion: str(m["apiVersion"]), Kind: str(m["kind"]), Name: str(m["name"]), UID: str(m["uid"])}
		}
	}
	return nil
}

func obj2md(obj map[string]any) map[string]any {
	md, _ := obj["metadata"].(map[string]any)
	return md
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func orNone(s string) string { return orDefault(s, "none") }

// String renders the chain on one line: A → B → C (root).
func (c Chain) String() string {
	parts := make([]string, len(c.Links))
	for i, l := range c.Links {
		parts[i] = l.String()
		if !l.Found {
			parts[i] += " (missing)"
		}
	}
	return strings.Join(parts, " → ")
}
