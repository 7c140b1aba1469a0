// Package freeport hands tests loopback addresses nobody listens on.
package freeport

import (
	"net"
	"testing"
)

// Addrs returns n distinct 127.0.0.1:port addresses that were free a
// moment ago. All n listeners are held until every port is picked, so the
// kernel cannot hand the same port out twice (picking them one by one,
// closing each at once, did: a test's webhook and metrics listeners once
// got the same port).
func Addrs(t testing.TB, n int) []string {
	t.Helper()
	out := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		out = append(out, l.Addr().String())
	}
	return out
}
