package revert

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestRecentFindingsCountAndExpire(t *testing.T) {
	r := &Recent{Retain: time.Hour, Max: 3}
	rv := Revert{Object: Ref{Kind: "Deployment", Namespace: "admin", Name: "ui", UID: "u1"}, Field: imageField, EditedBy: "alice", RevertedBy: "metacontroller", After: 14 * time.Second}
	r.Add(rv, t0, Message(rv))
	r.Add(rv, t0.Add(time.Minute), Message(rv))
	fs := r.Findings(t0.Add(2 * time.Minute))
	if len(fs) != 1 || fs[0].Policy != FindingPolicy || fs[0].Field != imageField || fs[0].Owner != "metacontroller" ||
		!strings.Contains(fs[0].Msg, "set by alice was reverted 14s later by manager metacontroller") || !strings.Contains(fs[0].Msg, "reverted 2 times") {
		t.Fatalf("findings %+v", fs)
	}
	if fs := r.Findings(t0.Add(2 * time.Hour)); len(fs) != 0 {
		t.Fatalf("findings after the retention: %+v", fs)
	}
	// bounded: at most Max objects and fields
	for i := 0; i < 10; i++ {
		x := rv
		x.Object.UID = fmt.Sprint("u", i)
		r.Add(x, t0.Add(time.Duration(i)*time.Second), Message(x))
	}
	if n := len(r.Findings(t0.Add(time.Minute))); n != 3 {
		t.Fatalf("%d findings kept, bound 3", n)
	}
}
