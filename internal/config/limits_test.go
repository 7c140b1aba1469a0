package config

import (
	"strings"
	"testing"
	"time"
)

func TestRequestBudgetConfig(t *testing.T) {
	c, err := Parse([]byte("requestTimeout: 8s\nevalTimeout: 3s\nmaxChanges: 50\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.RequestTimeout.Duration != 8*time.Second || c.MaxChanges != 50 {
		t.Errorf("requestTimeout %s maxChanges %d, want 8s 50", c.RequestTimeout, c.MaxChanges)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"evalTimeout: 5s", "evalTimeout: 5s is longer than requestTimeout 4s"},
		{"requestTimeout: 1s\nevalTimeout: 2s", "evalTimeout: 2s is longer than requestTimeout 1s"},
		{"requestTimeout: 30s", "requestTimeout: 30s must be between 0 and 29s"},
		{"requestTimeout: -1s", "requestTimeout: -1s must be between"},
		{"maxChanges: -1", "maxChanges: -1 must not be negative"},
	} {
		_, err := Parse([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

// The default request size limit is what kube-apiserver can send for an
// object etcd stores (docs/config.md), not an arbitrary round number.
func TestDefaultMaxRequestBytes(t *testing.T) {
	const etcdMax = 1536 * 1024 // etcd's default --max-request-bytes
	want := int64(2*(etcdMax*4/3)) + 256<<10
	if DefaultMaxRequestBytes != want {
		t.Errorf("DefaultMaxRequestBytes = %d, want 2 x base64(1.5 MiB) + 256 KiB = %d", DefaultMaxRequestBytes, want)
	}
	if Default().MaxRequestBytes != DefaultMaxRequestBytes {
		t.Errorf("default.yaml maxRequestBytes = %d, want %d", Default().MaxRequestBytes, DefaultMaxRequestBytes)
	}
}
