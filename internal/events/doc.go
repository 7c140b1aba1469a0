// Package events sends the decision trail's Kubernetes Events
// (events.k8s.io/v1) with client-go's events broadcaster, which
// aggregates repeats of an Event (same object, reason, action) into a
// series instead of writing a new Event each time.
//
// Sending never blocks a review: Emit puts the Event on a bounded queue
// or drops it (counted in driftguard_events_dropped_total{reason=
// "queue_full"}); one goroutine takes Events off the queue at a bounded
// rate (further ones are dropped, reason "rate_limited") and hands them
// to the broadcaster, which writes them to the API server.
package events
