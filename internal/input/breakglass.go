package input

import (
	"fmt"
	"strings"
	"time"
)

// BreakGlass is what the break-glass annotations of a request mean.
type BreakGlass struct {
	// Reason is the break-glass annotation on the object as it is after
	// the request (before it, for DELETE).
	Reason string
	// Group is the actor's break-glass group ("" when it has none).
	Group string
	// Fresh is true when this request sets or changes the reason (or its
	// expiry): only then does a reason count, unless an expiry covers it.
	Fresh bool
	// Until is the expiry that keeps an inherited reason valid.
	Until time.Time
	// Problem says why a reason does not count ("" when it does, or when
	// there is none).
	Problem string
	// Allowed is true when the reason counts and the actor is in a group.
	Allowed bool
}

// readBreakGlass reads the break-glass annotations of obj (nil for DELETE)
// and old (nil for CREATE). A reason counts when this request sets or
// changes it, or when its expiry annotation is in the future and at most
// maxDuration ahead: a reason left on an object by an earlier incident
// does not let the next edit through.
func (b *Builder) readBreakGlass(groups []string, obj, old map[string]any) BreakGlass {
	cfg := b.cfg.BreakGlass
	var bg BreakGlass
	for _, g := range groups {
		if b.breakGlassGroups[g] {
			bg.Group = g
			break
		}
	}
	if cfg.Annotation == "" {
		return bg
	}
	cur := obj
	if cur == nil {
		cur = old
	}
	bg.Reason = strings.TrimSpace(annotation(cur, cfg.Annotation))
	if bg.Reason == "" {
		return bg
	}
	expires := strings.TrimSpace(annotation(cur, cfg.ExpiresAnnotation))
	bg.Fresh = obj != nil && (old == nil ||
		bg.Reason != strings.TrimSpace(annotation(old, cfg.Annotation)) ||
		expires != strings.TrimSpace(annotation(old, cfg.ExpiresAnnotation)))
	if expires != "" {
		now := b.now()
		t, err := time.Parse(time.RFC3339, expires)
		switch {
		case err != nil:
			bg.Problem = fmt.Sprintf("%s %q is not an RFC 3339 time (e.g. %s)", cfg.ExpiresAnnotation, expires, now.Add(time.Hour).UTC().Format(time.RFC3339))
		case !t.After(now):
			bg.Problem = fmt.Sprintf("break-glass reason %q expired at %s (%s)", bg.Reason, t.UTC().Format(time.RFC3339), cfg.ExpiresAnnotation)
		case t.Sub(now) > cfg.MaxDuration.Duration:
			bg.Problem = fmt.Sprintf("%s %s is more than %s ahead (breakGlass.maxDuration)", cfg.ExpiresAnnotation, t.UTC().Format(time.RFC3339), shortDuration(cfg.MaxDuration.Duration))
		default:
			bg.Until = t
		}
	} else if !bg.Fresh {
		bg.Problem = fmt.Sprintf("the break-glass reason %q on the object was set by an earlier request; it counts only on the request that sets or changes it, or until the time in %s (at most %s ahead)",
			bg.Reason, cfg.ExpiresAnnotation, shortDuration(cfg.MaxDuration.Duration))
	}
	bg.Allowed = bg.Group != "" && bg.Problem == ""
	return bg
}

// BreakGlassHint tells a denied member of a break-glass group how to use
// it, or why the reason on the object did not count; "" for others.
func (b *Builder) BreakGlassHint(a Actor) string {
	cfg := b.cfg.BreakGlass
	bg := a.BreakGlassInfo
	if bg.Group == "" || bg.Allowed || cfg.Annotation == "" {
		return ""
	}
	how := fmt.Sprintf("%s is in break-glass group %s: to push this change through, set the annotation %s: \"<reason>\" in this same request "+
		"(optionally %s: <RFC 3339 time, at most %s ahead> to cover later requests too); it is allowed with a warning, recorded as drift on the object with your name, and counted",
		a.Username, bg.Group, cfg.Annotation, cfg.ExpiresAnnotation, shortDuration(cfg.MaxDuration.Duration))
	if bg.Problem != "" {
		return bg.Problem + ". " + how
	}
	return how
}

func breakGlassDoc(bg BreakGlass) map[string]any {
	d := map[string]any{"reason": bg.Reason, "allowed": bg.Allowed, "fresh": bg.Fresh, "group": bg.Group, "problem": bg.Problem}
	if !bg.Until.IsZero() {
		d["until"] = bg.Until.UTC().Format(time.RFC3339)
	}
	return d
}

// shortDuration prints 4h0m0s as 4h and 1h30m0s as 1h30m.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
