package chart

import (
	"context"
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// argsWithPrefix lists the container's args that start with prefix.
func argsWithPrefix(c obj, prefix string) []string {
	var out []string
	for _, a := range strs(c, "args") {
		if strings.HasPrefix(a, prefix) {
			out = append(out, a)
		}
	}
	return out
}

// clientCASource is where the file --client-ca-file names comes from,
// resolved through the container's volumeMounts and the pod's volumes.
type clientCASource struct {
	kind, name, key string // kind: secret or configMap
	mount           obj
}

// resolveClientCAFile follows file (an absolute path in the container) to
// the volume item it is: the mount whose mountPath is its directory, that
// mount's volume, and the volume's item whose path is its base name.
func resolveClientCAFile(t *testing.T, pod, c obj, file string) clientCASource {
	t.Helper()
	dir, base := path.Split(file)
	dir = strings.TrimSuffix(dir, "/")
	var mount obj
	for _, m := range list(c, "volumeMounts") {
		if str(m, "mountPath") == dir {
			mount = m.(obj)
		}
	}
	if mount == nil {
		t.Fatalf("--client-ca-file=%s: no volumeMount at %s", file, dir)
	}
	var vol obj
	for _, v := range list(pod, "volumes") {
		if str(v, "name") == str(mount, "name") {
			vol = v.(obj)
		}
	}
	if vol == nil {
		t.Fatalf("--client-ca-file=%s: mount %s has no volume", file, str(mount, "name"))
	}
	var src clientCASource
	switch {
	case get(vol, "secret") != nil && get(vol, "configMap") == nil:
		src = clientCASource{kind: "secret", name: str(vol, "secret.secretName")}
	case get(vol, "configMap") != nil && get(vol, "secret") == nil:
		src = clientCASource{kind: "configMap", name: str(vol, "configMap.name")}
	default:
		t.Fatalf("--client-ca-file=%s: volume %s is neither just a secret nor just a configMap: %v", file, str(vol, "name"), vol)
	}
	items := list(vol, src.kind+".items")
	if len(items) != 1 {
		t.Fatalf("--client-ca-file=%s: volume %s projects %d items, want just the CA key", file, str(vol, "name"), len(items))
	}
	if str(items[0], "path") != base {
		t.Fatalf("--client-ca-file=%s: volume %s puts its item at %q, not %q", file, str(vol, "name"), str(items[0], "path"), base)
	}
	src.key = str(items[0], "key")
	src.mount = mount
	return src
}

// TestClientAuth: webhook.clientAuth unset renders no --client-ca-file,
// no --client-names and no CA volume; caSecret or caConfigMap mounts just
// caKey of that object read-only as a directory (no subPath: the kubelet
// updates it in place, the binary rereads it) and passes its path;
// names become --client-names, comma-joined.
func TestClientAuth(t *testing.T) {
	t.Run("unset", func(t *testing.T) {
		for _, args := range [][]string{nil, {"--set", "certificates.mode=selfManaged"}, {"--set", "webhook.clientAuth.caKey=bundle.pem"}} {
			dep := render(t, args...).one(t, "Deployment")
			c := container(t, dep)
			if a := argsWithPrefix(c, "--client-"); len(a) > 0 {
				t.Errorf("render %v: args %v, want no --client-* flag without webhook.clientAuth", args, a)
			}
			for _, v := range list(dep, "spec.template.spec.volumes") {
				if n := str(v, "name"); n != "config" && n != "policies" && n != "tls" && n != "tmp" {
					t.Errorf("render %v: extra volume %s: %v", args, n, v)
				}
			}
			for _, m := range list(c, "volumeMounts") {
				if strings.Contains(str(m, "mountPath"), "client-ca") {
					t.Errorf("render %v: extra volumeMount %v", args, m)
				}
			}
		}
	})

	check := func(t *testing.T, args []string, wantKind, wantName, wantKey string, wantNames string) {
		t.Helper()
		dep := render(t, args...).one(t, "Deployment")
		pod := get(dep, "spec.template.spec").(obj)
		c := container(t, dep)
		files := argsWithPrefix(c, "--client-ca-file=")
		if len(files) != 1 {
			t.Fatalf("render %v: --client-ca-file args %v, want one", args, files)
		}
		file := strings.TrimPrefix(files[0], "--client-ca-file=")
		if !path.IsAbs(file) || path.Base(file) != wantKey {
			t.Errorf("render %v: --client-ca-file=%s, want an absolute path ending in %s", args, file, wantKey)
		}
		src := resolveClientCAFile(t, pod, c, file)
		if src.kind != wantKind || src.name != wantName || src.key != wantKey {
			t.Errorf("render %v: --client-ca-file comes from %s %q key %q, want %s %q key %q", args, src.kind, src.name, src.key, wantKind, wantName, wantKey)
		}
		if get(src.mount, "readOnly") != true {
			t.Errorf("render %v: CA mount %v is not readOnly", args, src.mount)
		}
		if get(src.mount, "subPath") != nil || get(src.mount, "subPathExpr") != nil {
			t.Errorf("render %v: CA mount %v uses a subPath (the kubelet would not update it)", args, src.mount)
		}
		names := argsWithPrefix(c, "--client-names")
		switch {
		case wantNames == "" && len(names) > 0:
			t.Errorf("render %v: %v, want no --client-names", args, names)
		case wantNames != "" && !slices.Equal(names, []string{"--client-names=" + wantNames}):
			t.Errorf("render %v: %v, want [--client-names=%s]", args, names, wantNames)
		}
	}
	t.Run("caSecret", func(t *testing.T) {
		check(t, []string{"--set", "webhook.clientAuth.caSecret=apiserver-client-ca"}, "secret", "apiserver-client-ca", "ca.crt", "")
		check(t, []string{"--set", "webhook.clientAuth.caSecret=apiserver-client-ca", "--set", "webhook.clientAuth.caKey=bundle.pem",
			"--set", "certificates.mode=selfManaged"}, "secret", "apiserver-client-ca", "bundle.pem", "")
	})
	t.Run("caConfigMap", func(t *testing.T) {
		check(t, []string{"--set", "webhook.clientAuth.caConfigMap=kube-root-ca.crt"}, "configMap", "kube-root-ca.crt", "ca.crt", "")
		check(t, []string{"--set", "webhook.clientAuth.caConfigMap=apiserver-client-ca", "--set", "webhook.clientAuth.caKey=client-ca.pem"},
			"configMap", "apiserver-client-ca", "client-ca.pem", "")
	})
	t.Run("names", func(t *testing.T) {
		check(t, []string{"--set", "webhook.clientAuth.caSecret=ca", "--set", "webhook.clientAuth.names={kube-apiserver}"},
			"secret", "ca", "ca.crt", "kube-apiserver")
		check(t, []string{"--set", "webhook.clientAuth.caConfigMap=ca", "--set", "webhook.clientAuth.names={kube-apiserver,apiserver.example.com}"},
			"configMap", "ca", "ca.crt", "kube-apiserver,apiserver.example.com")
	})
}

// TestClientAuthRejected: both CA sources, names without a CA (the binary
// would refuse --client-names alone and never start), and values that are
// not object names or keys fail the render, naming the value.
func TestClientAuthRejected(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"caSecret and caConfigMap", []string{"--set", "webhook.clientAuth.caSecret=a", "--set", "webhook.clientAuth.caConfigMap=b"},
			[]string{"webhook.clientAuth", "not both"}},
		{"names without a CA", []string{"--set", "webhook.clientAuth.names={kube-apiserver}"}, []string{"webhook.clientAuth.names", "caSecret"}},
		{"Secret name not a name", []string{"--set", "webhook.clientAuth.caSecret=Client_CA"}, []string{"caSecret"}},
		{"key with a path", []string{"--set", "webhook.clientAuth.caConfigMap=a", "--set", "webhook.clientAuth.caKey=../ca.crt"}, []string{"caKey"}},
		{"empty key", []string{"--set", "webhook.clientAuth.caConfigMap=a", "--set", "webhook.clientAuth.caKey="}, []string{"caKey"}},
		{"name with a comma", []string{"--set", "webhook.clientAuth.caConfigMap=a", "--set-json", `webhook.clientAuth.names=["a,b"]`}, []string{"names"}},
		{"unknown field", []string{"--set", "webhook.clientAuth.caSecretName=a"}, []string{"caSecretName"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"template", release, "charts/driftguard", "-n", namespace, "--kube-version", kubeVersion}, c.args...)
			_, errOut, err := helm(t, args...)
			if err == nil {
				t.Fatalf("helm template %v succeeded, want a failure", c.args)
			}
			if _, ok := err.(*exec.ExitError); !ok {
				t.Fatalf("helm did not run: %v", err)
			}
			for _, w := range c.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("error does not mention %q:\n%s", w, errOut)
				}
			}
		})
	}
}

// TestClientAuthAPIServer creates the Deployments of the caSecret and
// caConfigMap renders (with names) in a real kube-apiserver, which
// validates the pod template (volume items, mounts). Needs
// KUBEBUILDER_ASSETS (hack/e2e-assets.sh).
func TestClientAuthAPIServer(t *testing.T) {
	_, admin := startAPIServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var ns obj
	if err := yaml.Unmarshal([]byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: "+namespace+"}"), &ns); err != nil {
		t.Fatal(err)
	}
	if err := admin.Create(ctx, &unstructured.Unstructured{Object: ns}); err != nil {
		t.Fatal(err)
	}
	for rel, args := range map[string][]string{
		"dgsecret": {"--set", "webhook.clientAuth.caSecret=apiserver-client-ca", "--set", "webhook.clientAuth.names={kube-apiserver,apiserver.example.com}"},
		"dgcm":     {"--set", "webhook.clientAuth.caConfigMap=apiserver-client-ca", "--set", "webhook.clientAuth.caKey=client-ca.pem", "--set", "webhook.clientAuth.names={kube-apiserver}"},
	} {
		dep := renderAs(t, rel, args...).one(t, "Deployment")
		if err := admin.Create(ctx, &unstructured.Unstructured{Object: dep}); err != nil {
			t.Errorf("creating the Deployment of %v: %v", args, err)
			continue
		}
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind((&unstructured.Unstructured{Object: dep}).GroupVersionKind())
		if err := admin.Get(ctx, client.ObjectKey{Namespace: namespace, Name: str(dep, "metadata.name")}, got); err != nil {
			t.Fatal(err)
		}
		c := container(t, got.Object)
		if a := argsWithPrefix(c, "--client-"); len(a) != 2 {
			t.Errorf("stored Deployment of %v: args %v, want --client-ca-file and --client-names", args, a)
		}
	}
}
