package chart

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// The validating entries webhook.guard adds (templates/_tenancy.tpl).
const (
	settingsEntry    = "settings.validate.driftguard.io"
	tenantLabelEntry = "tenant-label.validate.driftguard.io"
)

// layoutWebhooks are a configuration's tenants/others entries, without
// the guard entries.
func layoutWebhooks(t *testing.T, r rendered, kind string) []obj {
	t.Helper()
	var out []obj
	for _, w := range webhooks(t, r, kind) {
		if n := str(w, "name"); n != settingsEntry && n != tenantLabelEntry {
			out = append(out, w)
		}
	}
	return out
}

func webhookNamed(t *testing.T, r rendered, kind, name string) obj {
	t.Helper()
	for _, w := range webhooks(t, r, kind) {
		if str(w, "name") == name {
			return w
		}
	}
	return nil
}

// setGuardParams sets the tenancy_guard params the chart fills in on a parsed config.
func setGuardParams(cfg obj, key, value string, protected ...string) {
	pols, _ := cfg["policies"].(obj)
	g, _ := pols["tenancy_guard"].(obj)
	params, _ := g["params"].(obj)
	var ps []any
	for _, p := range protected {
		ps = append(ps, p)
	}
	params["tenantLabel"] = obj{"key": key, "value": value}
	params["protectedConfigMaps"] = ps
}

// guardParamLines is the default config text with the chart's two
// tenancy_guard param lines.
func guardParamLines(t *testing.T, def, label, protected string) string {
	t.Helper()
	const l1, l2 = `      tenantLabel: {key: driftguard.io/tenant, value: "true"}`, `      protectedConfigMaps: []`
	if strings.Count(def, l1) != 1 || strings.Count(def, l2) != 1 {
		t.Fatalf("internal/config/default.yaml lacks the tenancy_guard lines the chart replaces:\n%s\n%s", l1, l2)
	}
	def = strings.Replace(def, l1, "      tenantLabel: "+label, 1)
	return strings.Replace(def, l2, "      protectedConfigMaps: "+protected, 1)
}

func renderedConfig(t *testing.T, r rendered, fullname string) obj {
	t.Helper()
	var cfg obj
	if err := yaml.Unmarshal([]byte(getLabelish(r.named(t, "ConfigMap", fullname+"-config"), "data", "config.yaml")), &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestTenancyGuard(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		r := render(t)
		dep := r.one(t, "Deployment")
		fullname := str(dep, "metadata.name")
		cfg := renderedConfig(t, r, fullname)

		// the params name the chart's own ConfigMaps, and those exist
		protected := strs(cfg, "policies.tenancy_guard.params.protectedConfigMaps")
		var own []string
		for _, cm := range r.all("ConfigMap") {
			own = append(own, str(cm, "metadata.namespace")+"/"+str(cm, "metadata.name"))
		}
		if want := []string{namespace + "/" + fullname + "-config", namespace + "/" + fullname + "-policies"}; !slices.Equal(protected, want) || !slices.Equal(own, want) {
			t.Errorf("protectedConfigMaps = %v, rendered ConfigMaps %v, want both %v", protected, own, want)
		}
		if got := get(cfg, "policies.tenancy_guard.params.tenantLabel"); fmt.Sprint(got) != fmt.Sprint(obj{"key": "driftguard.io/tenant", "value": "true"}) {
			t.Errorf("tenantLabel = %v", got)
		}
		if get(cfg, "policies.tenancy_guard.mode") != nil {
			t.Error("the chart must not pin tenancy_guard's mode")
		}

		s := webhookNamed(t, r, "ValidatingWebhookConfiguration", settingsEntry)
		if s == nil {
			t.Fatalf("no %s entry", settingsEntry)
		}
		if str(s, "failurePolicy") != "Ignore" {
			t.Errorf("%s failurePolicy = %s, want Ignore (driftguard down must not block its own recovery)", settingsEntry, str(s, "failurePolicy"))
		}
		if str(s, "clientConfig.service.path") != "/validate" || str(s, "clientConfig.service.name") != fullname {
			t.Errorf("%s clientConfig = %v", settingsEntry, get(s, "clientConfig"))
		}
		nsSel := list(s, "namespaceSelector.matchExpressions")
		if len(nsSel) != 1 || str(nsSel[0], "key") != "kubernetes.io/metadata.name" || str(nsSel[0], "operator") != "In" || !slices.Equal(strs(nsSel[0], "values"), []string{namespace}) {
			t.Errorf("%s namespaceSelector = %v, want only the release namespace", settingsEntry, get(s, "namespaceSelector"))
		}
		objSel, _ := get(s, "objectSelector.matchLabels").(obj)
		if !subset(objSel, get(dep, "spec.template.metadata.labels").(obj)) || objSel["app.kubernetes.io/instance"] != release {
			t.Errorf("%s objectSelector = %v, want the chart's instance labels", settingsEntry, objSel)
		}
		for _, cm := range r.all("ConfigMap") {
			if !subset(objSel, get(cm, "metadata.labels").(obj)) {
				t.Errorf("ConfigMap %s does not carry the labels %s selects", str(cm, "metadata.name"), settingsEntry)
			}
		}
		rules := list(s, "rules")
		if len(rules) != 1 || !slices.Equal(strs(rules[0], "resources"), []string{"configmaps"}) || !slices.Equal(strs(rules[0], "apiGroups"), []string{""}) ||
			!slices.Equal(strs(rules[0], "operations"), []string{"CREATE", "UPDATE", "DELETE"}) || str(rules[0], "scope") != "Namespaced" {
			t.Errorf("%s rules = %v", settingsEntry, rules)
		}

		l := webhookNamed(t, r, "ValidatingWebhookConfiguration", tenantLabelEntry)
		if l == nil {
			t.Fatalf("no %s entry", tenantLabelEntry)
		}
		if str(l, "failurePolicy") != "Fail" {
			t.Errorf("%s failurePolicy = %s, want failurePolicy.tenant (Fail)", tenantLabelEntry, str(l, "failurePolicy"))
		}
		if got := get(l, "objectSelector.matchLabels"); fmt.Sprint(got) != fmt.Sprint(obj{"driftguard.io/tenant": "true"}) {
			t.Errorf("%s objectSelector = %v, want the tenant label (matches the old object too)", tenantLabelEntry, got)
		}
		rules = list(l, "rules")
		if len(rules) != 1 || !slices.Equal(strs(rules[0], "resources"), []string{"namespaces"}) || !slices.Equal(strs(rules[0], "operations"), []string{"UPDATE"}) || str(rules[0], "scope") != "Cluster" {
			t.Errorf("%s rules = %v", tenantLabelEntry, rules)
		}
		conds := list(l, "matchConditions")
		if len(conds) == 0 || str(conds[len(conds)-1], "name") != "tenant-label-removed-or-changed" ||
			!strings.Contains(str(conds[len(conds)-1], "expression"), "oldObject.metadata.labels['driftguard.io/tenant'] == 'true'") {
			t.Errorf("%s matchConditions = %v", tenantLabelEntry, conds)
		}
		excluded := false
		for _, e := range list(l, "namespaceSelector.matchExpressions") {
			excluded = excluded || str(e, "operator") == "NotIn" && slices.Contains(strs(e, "values"), "kube-system") && slices.Contains(strs(e, "values"), namespace)
		}
		if !excluded {
			t.Errorf("%s does not exclude kube-system and the release namespace: %v", tenantLabelEntry, get(l, "namespaceSelector"))
		}
		// the mutating configuration needs neither
		for _, w := range webhooks(t, r, "MutatingWebhookConfiguration") {
			if n := str(w, "name"); n == settingsEntry || n == tenantLabelEntry || strings.HasPrefix(n, "settings.") || strings.HasPrefix(n, "tenant-label.") {
				t.Errorf("MutatingWebhookConfiguration has %s", n)
			}
		}
	})

	t.Run("custom tenant label and names", func(t *testing.T) {
		r := render(t, "--set", "webhook.tenantNamespaceLabel.key=platform.example.com/tenant", "--set-string", "webhook.tenantNamespaceLabel.value=yes",
			"--set", "fullnameOverride=guard", "--set", "config.defaultMode=warn", "--set-json", `config.policies.tenancy_guard.params.protectedConfigMaps=["ops/extra"]`)
		cfg := renderedConfig(t, r, "guard")
		if got := get(cfg, "policies.tenancy_guard.params.tenantLabel"); fmt.Sprint(got) != fmt.Sprint(obj{"key": "platform.example.com/tenant", "value": "yes"}) {
			t.Errorf("tenantLabel = %v, want webhook.tenantNamespaceLabel", got)
		}
		if got := strs(cfg, "policies.tenancy_guard.params.protectedConfigMaps"); !slices.Equal(got, []string{"ops/extra", namespace + "/guard-config", namespace + "/guard-policies"}) {
			t.Errorf("protectedConfigMaps = %v, want the given one plus the chart's own", got)
		}
		if cfg["defaultMode"] != "warn" {
			t.Error("the overlay was lost")
		}
		l := webhookNamed(t, r, "ValidatingWebhookConfiguration", tenantLabelEntry)
		if got := get(l, "objectSelector.matchLabels"); fmt.Sprint(got) != fmt.Sprint(obj{"platform.example.com/tenant": "yes"}) {
			t.Errorf("%s objectSelector = %v", tenantLabelEntry, got)
		}
		conds := list(l, "matchConditions")
		if e := str(conds[len(conds)-1], "expression"); !strings.Contains(e, "labels['platform.example.com/tenant'] == 'yes'") || strings.Contains(e, "driftguard.io/tenant") {
			t.Errorf("matchCondition = %s", e)
		}
		if s := webhookNamed(t, r, "ValidatingWebhookConfiguration", settingsEntry); getLabelish(s, "objectSelector.matchLabels", "app.kubernetes.io/instance") != release {
			t.Errorf("%s objectSelector = %v", settingsEntry, get(s, "objectSelector"))
		}
	})

	t.Run("a tenantLabel in config that is not the webhook's", func(t *testing.T) {
		_, errOut, err := helm(t, "template", release, "charts/driftguard", "-n", namespace, "--kube-version", kubeVersion,
			"--set", "config.policies.tenancy_guard.params.tenantLabel.key=other")
		if err == nil || !strings.Contains(errOut, "differs from webhook.tenantNamespaceLabel") {
			t.Errorf("want a render error naming webhook.tenantNamespaceLabel, got %v\n%s", err, errOut)
		}
	})

	t.Run("guard off", func(t *testing.T) {
		r := render(t, "--set", "webhook.guard.enabled=false")
		if len(webhooks(t, r, "ValidatingWebhookConfiguration")) != 2 {
			t.Errorf("webhook.guard.enabled=false still renders guard entries")
		}
		// the policy still guards whatever reaches it
		if got := strs(renderedConfig(t, r, release+"-driftguard"), "policies.tenancy_guard.params.protectedConfigMaps"); len(got) != 2 {
			t.Errorf("protectedConfigMaps = %v", got)
		}
	})
}

func TestNetworkPolicy(t *testing.T) {
	if n := len(render(t).all("NetworkPolicy")); n != 0 {
		t.Errorf("%d NetworkPolicies by default, want none (opt-in)", n)
	}
	r := render(t, "--set", "networkPolicy.enabled=true", "--set", "networkPolicy.webhook.cidrs={10.0.0.0/16,fd00::/64}",
		"--set-json", `networkPolicy.webhook.from=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"kube-system"}},"podSelector":{"matchLabels":{"k8s-app":"konnectivity-agent"}}}]`,
		"--set-json", `networkPolicy.metrics.from=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"monitoring"}}}]`,
		"--set", "server.port=10443")
	np := r.one(t, "NetworkPolicy")
	dep := r.one(t, "Deployment")
	if !subset(get(np, "spec.podSelector.matchLabels").(obj), get(dep, "spec.template.metadata.labels").(obj)) {
		t.Error("the NetworkPolicy does not select the webhook pods")
	}
	if got := strs(np, "spec.policyTypes"); !slices.Equal(got, []string{"Ingress"}) {
		t.Errorf("policyTypes = %v, want [Ingress] (egress to the API server stays open)", got)
	}
	ingress := list(np, "spec.ingress")
	byPort := map[float64][]any{}
	for _, in := range ingress {
		ports := list(in, "ports")
		if len(ports) != 1 || str(ports[0], "protocol") != "TCP" {
			t.Fatalf("ingress rule ports = %v, want one TCP port", ports)
		}
		byPort[num(ports[0], "port")] = list(in, "from")
	}
	if len(byPort) != 2 {
		t.Fatalf("ingress = %v, want the webhook and metrics ports only (no health peers given)", ingress)
	}
	wh := byPort[10443]
	if len(wh) != 3 || str(wh[0], "ipBlock.cidr") != "10.0.0.0/16" || str(wh[1], "ipBlock.cidr") != "fd00::/64" || getLabelish(wh[2].(obj), "podSelector.matchLabels", "k8s-app") != "konnectivity-agent" {
		t.Errorf("webhook port peers = %v", wh)
	}
	if m := byPort[8080]; len(m) != 1 || getLabelish(m[0].(obj), "namespaceSelector.matchLabels", "kubernetes.io/metadata.name") != "monitoring" {
		t.Errorf("metrics port peers = %v", m)
	}
	// health peers, when given, get the health port
	r = render(t, "--set", "networkPolicy.enabled=true", "--set", "networkPolicy.webhook.cidrs={192.168.0.10/32}",
		"--set-json", `networkPolicy.health.from=[{"ipBlock":{"cidr":"10.1.0.0/16"}}]`)
	var ports []float64
	for _, in := range list(r.one(t, "NetworkPolicy"), "spec.ingress") {
		ports = append(ports, num(list(in, "ports")[0], "port"))
	}
	if !slices.Equal(ports, []float64{9443, 8081}) {
		t.Errorf("ingress ports = %v, want webhook 9443 and health 8081 (no metrics peers: closed)", ports)
	}

	for _, bad := range [][]string{
		{"--set", "networkPolicy.enabled=true"},
		{"--set", "networkPolicy.enabled=true", "--set-json", `networkPolicy.metrics.from=[{"podSelector":{}}]`},
	} {
		_, errOut, err := helm(t, append([]string{"template", release, "charts/driftguard", "-n", namespace, "--kube-version", kubeVersion}, bad...)...)
		if err == nil || !strings.Contains(errOut, "networkPolicy.enabled needs the API server's addresses") {
			t.Errorf("%v: want a render error asking for webhook peers, got %v\n%s", bad, err, errOut)
		}
	}
	if _, errOut, err := helm(t, "template", release, "charts/driftguard", "-n", namespace, "--kube-version", kubeVersion,
		"--set", "networkPolicy.enabled=true", "--set", "networkPolicy.webhook.cidrs={10.0.0.1}"); err == nil {
		t.Errorf("a CIDR without a prefix length rendered\n%s", errOut)
	}
}

// checkGuardRouting (part of TestAPIServer, no driftguard pod answering):
// an edit of the chart's config ConfigMap in the release namespace reaches
// settings.validate.driftguard.io and fails open; removing the tenant label
// of a tenant Namespace reaches tenant-label.validate.driftguard.io and
// fails closed, although the Namespace's new labels route it to the
// fail-open others.* entries only.
func checkGuardRouting(t *testing.T, ctx context.Context, admin client.Client, scrape func() map[string]float64, configMap string) {
	t.Helper()
	patch := func(kind, ns, name, body string) error {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: kind})
		u.SetNamespace(ns)
		u.SetName(name)
		return admin.Patch(ctx, u, client.RawPatch(types.MergePatchType, []byte(body)))
	}
	t.Run("the chart's config ConfigMap reaches the settings entry, fail-open", func(t *testing.T) {
		before := scrape()
		if err := patch("ConfigMap", namespace, configMap, `{"metadata":{"annotations":{"probe":"1"}}}`); err != nil {
			t.Fatalf("editing %s with driftguard down: %v (the settings entry must fail open)", configMap, err)
		}
		after := scrape()
		k := "apiserver_admission_webhook_fail_open_count/" + settingsEntry
		if after[k]-before[k] != 1 {
			t.Errorf("%s grew by %v, want 1", k, after[k]-before[k])
		}
	})
	t.Run("removing the tenant label reaches the tenant-label entry, fail-closed", func(t *testing.T) {
		err := patch("Namespace", "", "tenant-a", `{"metadata":{"labels":{"driftguard.io/tenant":null}}}`)
		if err == nil || !strings.Contains(err.Error(), `failed calling webhook "`+tenantLabelEntry+`"`) {
			t.Fatalf("removing tenant-a's tenant label with driftguard down: %v, want a failure calling %s", err, tenantLabelEntry)
		}
		// opting a namespace in is not that entry's business (others.* fail open)
		before := scrape()
		if err := patch("Namespace", "", "team-b", `{"metadata":{"labels":{"driftguard.io/tenant":"false"}}}`); err != nil {
			t.Fatalf("labelling team-b: %v", err)
		}
		after := scrape()
		if k := "apiserver_admission_webhook_fail_open_count/others.validate.driftguard.io"; after[k]-before[k] != 1 {
			t.Errorf("%s grew by %v, want 1", k, after[k]-before[k])
		}
	})
}

// TestReadmeValidatingAdmissionPolicy creates the ValidatingAdmissionPolicy
// the chart README offers for the webhook configurations (which no webhook
// ever sees) in a real kube-apiserver: a cluster-admin by RBAC alone may not
// delete them, system:masters may. Needs KUBEBUILDER_ASSETS.
func TestReadmeValidatingAdmissionPolicy(t *testing.T) {
	cfg, admin := startAPIServer(t)
	readme, err := os.ReadFile(filepath.Join(repoRoot(t), "charts", "driftguard", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	i := strings.Index(text, "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\n")
	if i < 0 {
		t.Fatal("the README has no ValidatingAdmissionPolicy example")
	}
	example := text[i : i+strings.Index(text[i:], "```")]

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ic := rest.CopyConfig(cfg)
	ic.Impersonate = rest.ImpersonationConfig{UserName: "alice", Groups: []string{"system:authenticated"}}
	alice, err := client.New(ic, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	create := func(y string) {
		t.Helper()
		var o obj
		if err := yaml.Unmarshal([]byte(y), &o); err != nil {
			t.Fatal(err)
		}
		if err := admin.Create(ctx, &unstructured.Unstructured{Object: o}); err != nil {
			t.Fatalf("creating %v: %v", o["kind"], err)
		}
	}
	create(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: alice-cluster-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}]`)
	// a stand-in for the chart's configuration (matches no request)
	hook := `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: dg-driftguard-validating}
webhooks:
  - name: tenants.validate.driftguard.io
    clientConfig: {url: "https://127.0.0.1:1/validate"}
    admissionReviewVersions: [v1]
    sideEffects: NoneOnDryRun
    failurePolicy: Ignore
    rules: [{apiGroups: [nothing.example.com], apiVersions: ["*"], resources: ["*"], operations: [CREATE]}]`
	create(hook)
	for _, doc := range strings.Split(example, "---\n") {
		create(doc)
	}
	remove := func(c client.Client) error {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(schema.GroupVersionKind{Group: "admissionregistration.k8s.io", Version: "v1", Kind: "ValidatingWebhookConfiguration"})
		u.SetName("dg-driftguard-validating")
		return c.Delete(ctx, u)
	}
	// policies take effect asynchronously: until then alice's delete goes through
	var err2 error
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		if err2 = remove(alice); err2 != nil || time.Now().After(deadline) {
			break
		}
		create(hook)
	}
	if err2 == nil || !strings.Contains(err2.Error(), "driftguard's webhook configurations are changed by cluster admins only") {
		t.Fatalf("alice (cluster-admin by RBAC) deleting the configuration: %v, want the policy's denial", err2)
	}
	if err := remove(admin); err != nil {
		t.Errorf("system:masters deleting the configuration: %v", err)
	}
}
