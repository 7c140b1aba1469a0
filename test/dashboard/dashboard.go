// Package dashboard reads the shipped Grafana dashboard
// (deploy/grafana/driftguard-dashboard.json) for the tests that check its
// queries: the unit test in this package (structure, and every expression
// parsed by promtool) and the end-to-end test in test/e2e (every
// expression answered with data by a real Prometheus scraping a real
// driftguard).
package dashboard

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
)

// Path is the dashboard's path relative to the repository root.
const Path = "deploy/grafana/driftguard-dashboard.json"

// ChartPath is the chart's copy, rendered into a ConfigMap by
// charts/driftguard/templates/dashboard.yaml.
const ChartPath = "charts/driftguard/files/driftguard-dashboard.json"

// Dashboard is the part of a Grafana dashboard model the tests read.
type Dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []Variable `json:"list"`
	} `json:"templating"`
	Panels []Panel `json:"panels"`
}

// Variable is a template variable.
type Variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Datasource *Datasource     `json:"datasource"`
	IncludeAll bool            `json:"includeAll"`
	Multi      bool            `json:"multi"`
	AllValue   string          `json:"allValue"`
	Current    struct {
		Value any `json:"value"`
	} `json:"current"`
}

// Panel is a panel or a row (rows hold their panels when collapsed).
type Panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *Datasource `json:"datasource"`
	Targets    []Target    `json:"targets"`
	Panels     []Panel     `json:"panels"`
}

// Target is one query of a panel.
type Target struct {
	RefID      string      `json:"refId"`
	Expr       string      `json:"expr"`
	Instant    bool        `json:"instant"`
	Datasource *Datasource `json:"datasource"`
}

// Datasource is a panel's or a target's data source reference.
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Query is one target's expression with the panel it belongs to.
type Query struct {
	Panel Panel
	RefID string
	Expr  string
}

func (q Query) String() string {
	return fmt.Sprintf("panel %d %q, target %s", q.Panel.ID, q.Panel.Title, q.RefID)
}

// RepoRoot is the module root (this file lives in test/dashboard).
func RepoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot locate %s", Path)
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..")), nil
}

// Load reads and decodes a dashboard file.
func Load(path string) (*Dashboard, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d Dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &d, nil
}

// LoadShipped reads the dashboard at Path.
func LoadShipped() (*Dashboard, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	return Load(filepath.Join(root, Path))
}

// AllPanels lists the panels, those inside rows included, rows left out.
func (d *Dashboard) AllPanels() []Panel {
	var out []Panel
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			if p.Type != "row" {
				out = append(out, p)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// Queries lists every target of every panel.
func (d *Dashboard) Queries() []Query {
	var out []Query
	for _, p := range d.AllPanels() {
		for _, t := range p.Targets {
			out = append(out, Query{Panel: p, RefID: t.RefID, Expr: t.Expr})
		}
	}
	return out
}

// Variable returns the template variable called name.
func (d *Dashboard) Variable(name string) (Variable, bool) {
	for _, v := range d.Templating.List {
		if v.Name == name {
			return v, true
		}
	}
	return Variable{}, false
}

// variableRef is how Grafana writes a variable into a query: $name,
// ${name}, ${name:format} or [[name]].
var variableRef = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]`)

// Expand replaces the variables of expr with vars (Grafana's built-ins
// such as __rate_interval and __range included), as Grafana does before it
// sends a query. A variable vars does not hold is an error, so a query
// never reaches Prometheus with a "$" left in it.
func Expand(expr string, vars map[string]string) (string, error) {
	var missing []string
	out := variableRef.ReplaceAllStringFunc(expr, func(ref string) string {
		m := variableRef.FindStringSubmatch(ref)
		name := m[1] + m[2] + m[3]
		v, ok := vars[name]
		if !ok {
			missing = append(missing, name)
			return ref
		}
		return v
	})
	if len(missing) > 0 {
		sort.Strings(missing)
		return "", fmt.Errorf("unknown variable(s) %s in %q", strings.Join(missing, ", "), expr)
	}
	return out, nil
}

// Metrics lists the driftguard metric names expr refers to (histogram
// _bucket/_sum/_count series by their histogram's name).
func Metrics(expr string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range regexp.MustCompile(`driftguard_[a-z_]+`).FindAllString(expr, -1) {
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if strings.HasSuffix(m, "_seconds"+suf) {
				m = strings.TrimSuffix(m, suf)
			}
		}
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	return out
}
