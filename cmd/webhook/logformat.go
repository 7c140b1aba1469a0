package main

import (
	"github.com/go-logr/logr"
	"go.uber.org/zap/zapcore"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	srv "github.com/driftguard/driftguard/internal/server"
)

// newLogger is serve's logger: controller-runtime's zap, with the
// encoder --log-format names (text: zap's console lines, json: one JSON
// object per line; checked by Options.Validate).
func newLogger(o srv.Options) logr.Logger {
	enc := zap.ConsoleEncoder()
	if o.LogFormat == "json" {
		// times as RFC 3339 (what serve wrote before --log-format), not
		// zap's default Unix seconds
		enc = zap.JSONEncoder(func(c *zapcore.EncoderConfig) { c.EncodeTime = zapcore.RFC3339TimeEncoder })
	}
	return zap.New(zap.UseDevMode(o.Dev), enc)
}
