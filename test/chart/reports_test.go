package chart

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"
)

var reportCRDFiles = []string{"openreports.io_reports.yaml", "openreports.io_clusterreports.yaml"}

// reportsModuleDir is where the pinned github.com/openreports/reports-api is.
func reportsModuleDir(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/openreports/reports-api")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("go list -m github.com/openreports/reports-api: %v %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestReportCRDsAreTheModules: the chart's CRD copies are the files of the
// reports-api version go.mod pins (hack/update-report-crds.sh).
func TestReportCRDsAreTheModules(t *testing.T) {
	dir := reportsModuleDir(t)
	for _, f := range reportCRDFiles {
		want, err := os.ReadFile(filepath.Join(dir, "config", "crd", f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(repoRoot(t), "charts", "driftguard", "files", "crds", f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("charts/driftguard/files/crds/%s differs from %s: run hack/update-report-crds.sh", f, dir)
		}
	}
}

func reportsRule(r rendered) []string {
	var verbs []string
	for _, role := range r.all("ClusterRole") {
		rules := rulesByResource(role)
		if v := rules["openreports.io/reports"]; len(v) > 0 && reflect.DeepEqual(v, rules["openreports.io/clusterreports"]) {
			verbs = append(verbs, v...)
		}
	}
	return verbs
}

func TestReportsChart(t *testing.T) {
	dir := reportsModuleDir(t)
	r := render(t)
	crds := r.all("CustomResourceDefinition")
	if len(crds) != 2 {
		t.Fatalf("%d CRDs rendered, want the two OpenReports CRDs", len(crds))
	}
	for i, f := range reportCRDFiles {
		b, err := os.ReadFile(filepath.Join(dir, "config", "crd", f))
		if err != nil {
			t.Fatal(err)
		}
		var want obj
		if err := yaml.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		got := crds[i]
		if str(got, "metadata.name") != str(want, "metadata.name") || !reflect.DeepEqual(get(got, "spec"), get(want, "spec")) {
			t.Errorf("rendered CRD %s is not the module's %s", str(got, "metadata.name"), f)
		}
		if getLabelish(got, "metadata.annotations", "helm.sh/resource-policy") != "keep" {
			t.Errorf("CRD %s is not kept on uninstall (other tools' reports would go with it)", str(got, "metadata.name"))
		}
	}
	if v := strings.Join(reportsRule(r), ","); v != "get,list,watch,create,update,patch,delete" {
		t.Errorf("ClusterRole verbs on reports and clusterreports = %q", v)
	}
	checkNoWildcards(t, r)

	if n := len(render(t, "--set", "reports.installCRDs=false").all("CustomResourceDefinition")); n != 0 {
		t.Errorf("reports.installCRDs=false: %d CRDs rendered", n)
	}
	for _, args := range [][]string{{"--set", "config.audit.reports.enabled=false"}, {"--set", "server.audit=false"}} {
		if v := reportsRule(render(t, args...)); len(v) > 0 {
			t.Errorf("%v: the ClusterRole still grants %v on reports", args, v)
		}
	}
	if _, errOut, err := helm(t, "template", release, "charts/driftguard", "-n", namespace, "--kube-version", kubeVersion,
		"--set", "config.audit.reports.maxResults=100000"); err == nil || !strings.Contains(errOut, "maxResults") {
		t.Errorf("maxResults above the limit: err %v, stderr %s", err, errOut)
	}
}

// TestReportCRDsLookup: against a real API server (helm --dry-run=server,
// as helm install does), a CRD another tool installed is not rendered (the
// chart would take it over, and fight Kyverno or Policy Reporter); a CRD
// this release installed is (an upgrade keeps it).
func TestReportCRDsLookup(t *testing.T) {
	cfg, admin := startAPIServer(t)
	kc := clientcmdapi.NewConfig()
	kc.Clusters["e"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["e"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["e"] = &clientcmdapi.Context{Cluster: "e", AuthInfo: "e"}
	kc.CurrentContext = "e"
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		t.Fatal(err)
	}
	create := func(f string, annotations map[string]string) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(repoRoot(t), "charts", "driftguard", "files", "crds", f))
		if err != nil {
			t.Fatal(err)
		}
		var o obj
		if err := yaml.Unmarshal(b, &o); err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{Object: o}
		u.SetAnnotations(annotations)
		if err := admin.Create(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
	names := func() []string {
		t.Helper()
		out, errOut, err := helm(t, "template", release, "charts/driftguard", "-n", namespace, "--kube-version", kubeVersion,
			"--dry-run=server", "--kubeconfig", kubeconfig)
		if err != nil {
			t.Fatalf("helm template --dry-run=server: %v\n%s", err, errOut)
		}
		var crds []string
		for _, doc := range strings.Split(out, "\n---\n") {
			var o obj
			if yaml.Unmarshal([]byte(doc), &o) == nil && str(o, "kind") == "CustomResourceDefinition" {
				crds = append(crds, str(o, "metadata.name"))
			}
		}
		return crds
	}
	create("openreports.io_reports.yaml", map[string]string{"meta.helm.sh/release-name": "kyverno"})
	if got := names(); !reflect.DeepEqual(got, []string{"clusterreports.openreports.io"}) {
		t.Fatalf("with another tool's Report CRD the chart renders CRDs %v, want only clusterreports", got)
	}
	create("openreports.io_clusterreports.yaml", map[string]string{"meta.helm.sh/release-name": release, "meta.helm.sh/release-namespace": namespace})
	if got := names(); !reflect.DeepEqual(got, []string{"clusterreports.openreports.io"}) {
		t.Fatalf("with this release's ClusterReport CRD the chart renders CRDs %v, want it kept (upgrade)", got)
	}
}
