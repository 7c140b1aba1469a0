package server

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"
)

// run starts every component in one errgroup and returns when all have
// stopped. The first one to fail ends Run with its error (a process that
// can no longer do its job must not stay alive behind a passing liveness
// probe): the webhook server, the health or metrics listener, or the
// controller manager (audit, baseline, certificate rotation, leader
// election). The end of ctx (SIGTERM) or a failure starts the shutdown:
//
//  1. /readyz answers 503 (draining);
//  2. --shutdown-delay passes, when ctx ended (endpoints catch up and stop
//     sending reviews here; after a failure there is nothing to wait for);
//  3. the webhook server drains: in-flight reviews are answered (at most
//     a minute) and it stops; its certificate watchers stop with it;
//  4. the health and metrics listeners close.
//
// The controller manager and the reloader stop as soon as the shutdown
// starts. An error a component returns after ctx ended is part of the
// shutdown, not a failure: Run returns nil.
func (in *instance) run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	// the webhook server outlives gctx until step 3
	webhookCtx, stopWebhook := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWebhook()
	webhookDone := make(chan struct{})

	goPart := func(name string, f func() error) {
		g.Go(func() error {
			err := f()
			if err != nil && ctx.Err() != nil {
				in.log.Info("error while shutting down", "component", name, "error", err.Error())
				return nil
			}
			return err
		})
	}
	if in.mgr != nil {
		goPart("controller manager", func() error {
			if err := in.mgr.Start(gctx); err != nil {
				return fmt.Errorf("controller manager stopped: %w", err)
			}
			return nil
		})
		in.log.Info("cluster loops started", "audit", in.opts.Audit, "leaderElection", in.opts.LeaderElect)
	}
	goPart("health listener", func() error { return in.health.serve(in.log) })
	goPart("metrics listener", func() error { return in.metrics.serve(in.log) })
	goPart("webhook server", func() error {
		defer close(webhookDone)
		return in.serveWebhook(webhookCtx)
	})
	goPart("reloader", func() error { in.reloader.Run(gctx); return nil })
	g.Go(func() error {
		<-gctx.Done()
		in.shutdown(ctx.Err() != nil, stopWebhook, webhookDone)
		return nil
	})
	return g.Wait()
}

// serveWebhook starts the serving certificate's watcher and the webhook
// server, which serves until ctx ends. With --cert-rotation it first
// waits for the rotator's certificates (none: ctx ended first).
func (in *instance) serveWebhook(ctx context.Context) error {
	if in.certsReady == nil {
		go func() { _ = in.servingCert.Start(ctx) }()
		return in.webhook.Start(ctx)
	}
	in.log.Info("waiting for the rotated certificates in --cert-dir")
	select {
	case <-in.certsReady:
	case <-ctx.Done():
		return nil
	}
	cw, err := loadServingCert(in.log, in.m, in.sm, in.opts.CertDir)
	if err != nil {
		return fmt.Errorf("loading the rotated certificate: %w", err)
	}
	// the gate may hold a new certificate back: the expiry gauge
	// follows what it serves, not what the watcher loaded
	cw.OnServe = nil
	in.certGate.Source = cw.GetCertificate
	in.metricsTLSCert.Store(cw)
	go watchServedExpiry(ctx, in.m, in.certGate)
	go func() { _ = cw.Start(ctx) }()
	return in.webhook.Start(ctx)
}

// shutdown takes steps 1 to 4 of run's shutdown; asked: ctx ended (else a
// component failed).
func (in *instance) shutdown(asked bool, stopWebhook func(), webhookDone <-chan struct{}) {
	close(in.draining)
	delay := in.opts.ShutdownDelay
	if !asked {
		delay = 0
	}
	in.log.Info("shutting down", "delay", delay)
	time.Sleep(delay)
	stopWebhook() // graceful: the webhook server waits for in-flight requests
	<-webhookDone
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = in.health.srv.Shutdown(sctx)
	_ = in.metrics.srv.Shutdown(sctx)
}
