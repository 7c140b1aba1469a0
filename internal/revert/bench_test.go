package revert

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkObserve10k is the detector on the audit leader's update stream
// of 10,000 Deployments (objects built before the timer; every op is one
// update of one object):
//   - mix: per object, 18 controller writes that leave the spec alone
//     (status-like), then a hand edit of the image (kubectl-set), then the
//     operator setting it back: a revert every 20 updates;
//   - edits: every update a hand edit that nobody reverts, so the table
//     stays full at MaxTracked (5,000) and every new edit evicts one.
//
// It reports the edits tracked and the detector's heap after the run: both
// stay bounded whatever the number of updates.
//
//	go test ./internal/revert -run '^$' -bench Observe10k -benchmem
func BenchmarkObserve10k(b *testing.B) {
	const objects = 10000
	type variants struct{ base, base2, edited map[string]any }
	objs := make([]variants, objects)
	for i := range objs {
		v := variants{
			base:   deployment(1, "r/app:1.0.0", map[string]time.Time{"operator": t0}),
			base2:  deployment(2, "r/app:1.0.0", map[string]time.Time{"operator": t0.Add(time.Second)}),
			edited: deployment(3, "r/app:1.1.0", map[string]time.Time{"operator": t0.Add(time.Second), "kubectl-set": t0.Add(2 * time.Second)}),
		}
		for _, o := range []map[string]any{v.base, v.base2, v.edited} {
			o["metadata"].(map[string]any)["uid"] = fmt.Sprint("uid-", i)
		}
		objs[i] = v
	}
	heap := func() float64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return float64(ms.HeapInuse) / (1 << 20)
	}
	run := func(b *testing.B, step func(i int) (old, new map[string]any)) {
		before := heap()
		d := New(Options{MaxTracked: 5000, Window: time.Hour, HandEditManagers: []string{"kubectl-set"}}, nil, nil)
		ctx := context.Background()
		now := t0
		reverts := 0
		b.ReportAllocs()
		b.ResetTimer()
		i := 0
		for b.Loop() {
			now = now.Add(time.Millisecond)
			old, new := step(i)
			reverts += len(d.Observe(ctx, old, new, now))
			i++
		}
		b.StopTimer()
		b.ReportMetric(float64(d.Tracked()), "tracked")
		b.ReportMetric(float64(reverts)/float64(i), "reverts/op")
		b.ReportMetric(heap()-before, "detector-heap-MiB")
		runtime.KeepAlive(d)
	}
	b.Run("mix", func(b *testing.B) {
		run(b, func(i int) (map[string]any, map[string]any) {
			v := objs[i%objects]
			switch (i / objects) % 20 {
			case 18:
				return v.base, v.edited
			case 19:
				return v.edited, v.base2
			default:
				if (i/objects)%2 == 0 {
					return v.base, v.base2
				}
				return v.base2, v.base
			}
		})
	})
	b.Run("edits", func(b *testing.B) {
		run(b, func(i int) (map[string]any, map[string]any) {
			v := objs[i%objects]
			return v.base, v.edited
		})
	})
}
