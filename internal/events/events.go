package events

import (
	"context"
	"os"

	"golang.org/x/time/rate"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	kevents "k8s.io/client-go/tools/events"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/metrics"
)

// ReportingController is the reportingController of every Event.
const ReportingController = "driftguard.io/admission"

// Bounds of the Events sent.
const (
	QueueSize = 256 // Events waiting to be sent
	Rate      = 10  // Events per second handed to the broadcaster, sustained
	Burst     = 100
)

// Recorder is an admit.EventSink writing to the API server.
type Recorder struct {
	queue    chan admit.Event
	limit    *rate.Limiter
	metrics  *metrics.Metrics
	sink     kevents.EventSink
	instance string
}

var _ admit.EventSink = (*Recorder)(nil)

// New returns a Recorder writing with client; instance is the Events'
// reportingInstance (Instance()). Start sends.
func New(client kubernetes.Interface, instance string, m *metrics.Metrics) *Recorder {
	return NewWithSink(&kevents.EventSinkImpl{Interface: client.EventsV1()}, instance, m)
}

// NewWithSink is New with the broadcaster's sink given (tests).
func NewWithSink(sink kevents.EventSink, instance string, m *metrics.Metrics) *Recorder {
	return &Recorder{
		queue:    make(chan admit.Event, QueueSize),
		limit:    rate.NewLimiter(Rate, Burst),
		metrics:  m,
		sink:     instanceSink{EventSink: sink, instance: instance},
		instance: instance,
	}
}

// Instance is the reportingInstance of this process's Events: the pod's
// name ($POD_NAME, set by the chart from the downward API), else the
// hostname.
func Instance() string {
	if p := os.Getenv("POD_NAME"); p != "" {
		return p
	}
	h, _ := os.Hostname()
	return h
}

// Emit queues ev, or drops and counts it when the queue is full.
func (r *Recorder) Emit(ev admit.Event) {
	select {
	case r.queue <- ev:
	default:
		r.drop("queue_full")
	}
}

func (r *Recorder) drop(reason string) {
	if r.metrics != nil && r.metrics.EventsDropped != nil {
		r.metrics.EventsDropped.WithLabelValues(reason).Inc()
	}
}

// Start sends queued Events until ctx ends (a controller-runtime
// Runnable: on every replica, since each answers its own reviews).
func (r *Recorder) Start(ctx context.Context) error {
	b := kevents.NewBroadcaster(r.sink)
	if err := b.StartRecordingToSinkWithContext(ctx); err != nil {
		return err
	}
	defer b.Shutdown()
	rec := b.NewRecorder(scheme.Scheme, ReportingController)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-r.queue:
			if !r.limit.Allow() {
				r.drop("rate_limited")
				continue
			}
			ref := ev.Regarding
			// "%s": the note is text, not a format
			rec.Eventf(&ref, nil, ev.Type, ev.Reason, ev.Action, "%s", ev.Note)
		}
	}
}

// NeedLeaderElection is false: every replica sends the Events of the
// reviews it answers.
func (r *Recorder) NeedLeaderElection() bool { return false }

// instanceSink sets the reportingInstance of the Events it creates (the
// broadcaster names it after the controller and the hostname).
type instanceSink struct {
	kevents.EventSink
	instance string
}

func (s instanceSink) Create(ctx context.Context, ev *eventsv1.Event) (*eventsv1.Event, error) {
	ev = ev.DeepCopy()
	ev.ReportingInstance = s.instance
	return s.EventSink.Create(ctx, ev)
}
