package config

import (
	"strings"
	"testing"
)

func TestAuditReportsConfig(t *testing.T) {
	c, err := Parse([]byte("audit: {interval: 60s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Audit.Reports.On() || c.Audit.Reports.MaxResults != DefaultReportMaxResults {
		t.Errorf("defaults: on %v maxResults %d, want true %d", c.Audit.Reports.On(), c.Audit.Reports.MaxResults, DefaultReportMaxResults)
	}
	c, err = Parse([]byte("audit:\n  reports: {enabled: false, maxResults: 20}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Audit.Reports.On() || c.Audit.Reports.MaxResults != 20 {
		t.Errorf("on %v maxResults %d, want false 20", c.Audit.Reports.On(), c.Audit.Reports.MaxResults)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"audit: {reports: {maxResults: -1}}", "audit.reports.maxResults: -1 is out of range"},
		{"audit: {reports: {maxResults: 5001}}", "audit.reports.maxResults: 5001 is out of range"},
		{"audit: {reports: {maxResult: 10}}", `unknown field "maxResult"`},
	} {
		_, err := Parse([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
	d := Default()
	if !d.Audit.Reports.On() || d.Audit.Reports.MaxResults != DefaultReportMaxResults {
		t.Errorf("default.yaml: on %v maxResults %d", d.Audit.Reports.On(), d.Audit.Reports.MaxResults)
	}
}
