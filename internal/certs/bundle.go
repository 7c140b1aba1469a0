package certs

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"time"
)

// PreviousCAUntilAnnotation, on a webhook configuration, says until when
// the CAs after the first one in its caBundle (the CAs before the last
// rotation) stay trusted.
const PreviousCAUntilAnnotation = "driftguard.io/previous-ca-until"

// ParseCerts returns the certificates of a PEM bundle (other blocks and
// unparsable certificates are skipped).
func ParseCerts(p []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, p = pem.Decode(p)
		if blk == nil {
			return out
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
			out = append(out, c)
		}
	}
}

// MergeBundle computes a webhook's caBundle when the current CA (PEM,
// the Secret's ca.crt) is current: the current CA first, then the CAs of
// the existing bundle that are not current, still valid and still in
// their overlap. A rotation (the existing bundle does not contain the
// current CA yet) starts an overlap of length overlap; prevUntil is the
// end of the overlap already running (zero: none recorded, and one is
// started for CAs found in the bundle). Without previous CAs the bundle
// is the current PEM as is and until is zero.
//
// The overlap is what makes a CA rotation safe: the API server keeps
// trusting the certificate driftguard serves until every replica has
// the new one (the Secret volume is refreshed only on the kubelet's next
// sync), and a replica switches only once the new CA is trusted (Gate).
func MergeBundle(existing, current []byte, prevUntil, now time.Time, overlap time.Duration) (bundle []byte, until time.Time) {
	cur := ParseCerts(current)
	if len(cur) == 0 {
		return existing, prevUntil
	}
	isCurrent := func(c *x509.Certificate) bool {
		for _, x := range cur {
			if x.Equal(c) {
				return true
			}
		}
		return false
	}
	rotated := true
	var prev []*x509.Certificate
	for _, c := range ParseCerts(existing) {
		switch {
		case isCurrent(c):
			rotated = false
		case c.IsCA && now.Before(c.NotAfter) && !containsCert(prev, c):
			prev = append(prev, c)
		}
	}
	if len(prev) == 0 {
		return current, time.Time{}
	}
	switch {
	case rotated || prevUntil.IsZero():
		until = now.Add(overlap)
	default:
		until = prevUntil
	}
	if !now.Before(until) {
		return current, time.Time{}
	}
	var b bytes.Buffer
	b.Write(current)
	if len(current) > 0 && current[len(current)-1] != '\n' {
		b.WriteByte('\n')
	}
	for _, c := range prev {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes(), until
}

func containsCert(cs []*x509.Certificate, c *x509.Certificate) bool {
	for _, x := range cs {
		if x.Equal(c) {
			return true
		}
	}
	return false
}
