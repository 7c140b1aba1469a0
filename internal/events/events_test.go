package events

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/metrics"
)

func denied(name string) admit.Event {
	return admit.Event{
		Regarding: corev1.ObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "tenant-a", Name: name, UID: "u-1"},
		Type:      corev1.EventTypeWarning, Reason: admit.EventHandEditDenied, Action: "Denied",
		Note: "driftguard denied the update by alice 100% (not a format)",
	}
}

// TestRecorderWritesEvents: an Event reaches the API (events.k8s.io/v1)
// with driftguard's reportingController, the pod's name as
// reportingInstance and the note as given; a repeat becomes a series on
// the same Event.
func TestRecorderWritesEvents(t *testing.T) {
	client := fake.NewClientset()
	r := New(client, "driftguard-7c9d-x2k", metrics.New(prometheus.NewRegistry()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.Start(ctx) }()
	r.Emit(denied("api"))

	var list []string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		evs, err := client.EventsV1().Events("tenant-a").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs.Items) == 1 {
			ev := evs.Items[0]
			if ev.ReportingController != ReportingController || ev.ReportingInstance != "driftguard-7c9d-x2k" ||
				ev.Reason != admit.EventHandEditDenied || ev.Action != "Denied" || ev.Type != "Warning" ||
				ev.Regarding.Name != "api" || ev.Regarding.UID != "u-1" || ev.Note != denied("api").Note {
				t.Fatalf("Event %+v", ev)
			}
			if ev.Series != nil {
				break // the repeat below made it a series
			}
			r.Emit(denied("api"))
			if waitSeries(t, client, ev.Name) {
				return
			}
			t.Fatal("the repeated Event did not become a series of the first")
		}
		list = list[:0]
		for _, ev := range evs.Items {
			list = append(list, ev.Name)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no single Event written; have %v", list)
}

// TestEmitNeverBlocks: with nothing sending, Emit fills the queue and
// then drops and counts instead of waiting.
func TestEmitNeverBlocks(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry())
	r := New(fake.NewClientset(), "x", m)
	done := make(chan struct{})
	go func() {
		for range QueueSize + 50 {
			r.Emit(denied("api"))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Emit blocked on a full queue")
	}
	if got := testutil.ToFloat64(m.EventsDropped.WithLabelValues("queue_full")); got != 50 {
		t.Errorf("driftguard_events_dropped_total{reason=queue_full} = %v, want 50", got)
	}
}

// TestSendingIsRateLimited: a flood beyond the burst is dropped and
// counted (rate_limited), not handed to the broadcaster.
func TestSendingIsRateLimited(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry())
	r := New(fake.NewClientset(), "x", m)
	for range QueueSize {
		r.Emit(denied("api"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.Start(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(r.queue) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	// the refill during the drain is at most a few Events
	if got := testutil.ToFloat64(m.EventsDropped.WithLabelValues("rate_limited")); got < QueueSize-Burst-20 || got > QueueSize-Burst {
		t.Errorf("rate_limited drops = %v, want about %d", got, QueueSize-Burst)
	}
}

// waitSeries waits until Event name has a series of 2 and is still the
// only Event.
func waitSeries(t *testing.T, client *fake.Clientset, name string) bool {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		evs, err := client.EventsV1().Events("tenant-a").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs.Items) == 1 && evs.Items[0].Name == name && evs.Items[0].Series != nil && evs.Items[0].Series.Count == 2 {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}
