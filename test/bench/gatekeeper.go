package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"
)

// Gatekeeper as a third server: its manager in webhook mode against an
// envtest control plane (kube-apiserver and etcd from KUBEBUILDER_ASSETS),
// with two constraints that do the part of driftguard's job the bench's
// Deployment reviews exercise: Deployments must carry the label app, and
// only Terraform's identity may change a container image of a Deployment
// or Pod (alice's hand edit is denied, Terraform's replicas change is
// allowed).

// gatekeeperNamespace is where Gatekeeper writes its per-pod status objects.
const gatekeeperNamespace = "gatekeeper-system"

// terraformUser may change images (the identity of the reviews' owner).
const terraformUser = "system:serviceaccount:infra:terraform"

var gatekeeperPolicies = []string{`
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: benchrequiredlabels
spec:
  crd:
    spec:
      names:
        kind: BenchRequiredLabels
      validation:
        openAPIV3Schema:
          type: object
          properties:
            labels:
              type: array
              items:
                type: string
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package benchrequiredlabels

      # one violation per label the object lacks
      violation[{"msg": msg}] {
        label := input.parameters.labels[_]
        not has_label(label)
        msg := sprintf("%v %v has no label %v", [input.review.object.kind, input.review.object.metadata.name, label])
      }

      has_label(label) {
        input.review.object.metadata.labels[label]
      }
`, `
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: benchimagelock
spec:
  crd:
    spec:
      names:
        kind: BenchImageLock
      validation:
        openAPIV3Schema:
          type: object
          properties:
            allowedUsers:
              type: array
              items:
                type: string
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package benchimagelock

      pod_spec(obj) = spec {
        obj.kind == "Pod"
        spec := obj.spec
      }

      pod_spec(obj) = spec {
        obj.kind != "Pod"
        spec := obj.spec.template.spec
      }

      containers(obj) = cs {
        spec := pod_spec(obj)
        cs := array.concat(object.get(spec, "initContainers", []), object.get(spec, "containers", []))
      }

      allowed_user {
        input.review.userInfo.username == input.parameters.allowedUsers[_]
      }

      violation[{"msg": msg}] {
        input.review.operation == "UPDATE"
        not allowed_user
        c := containers(input.review.object)[_]
        old := containers(input.review.oldObject)[_]
        c.name == old.name
        c.image != old.image
        msg := sprintf("%v may not change the image of container %v (%v -> %v)", [input.review.userInfo.username, c.name, old.image, c.image])
      }
`}

var gatekeeperConstraints = []string{`
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: BenchRequiredLabels
metadata:
  name: deployments-have-app
spec:
  match:
    kinds:
    - apiGroups: ["apps"]
      kinds: ["Deployment"]
  parameters:
    labels: ["app"]
`, `
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: BenchImageLock
metadata:
  name: images-by-terraform-only
spec:
  match:
    kinds:
    - apiGroups: ["apps"]
      kinds: ["Deployment"]
    - apiGroups: [""]
      kinds: ["Pod"]
  parameters:
    allowedUsers: ["` + terraformUser + `"]
`}

// controlPlane is the envtest kube-apiserver and etcd Gatekeeper runs against.
type controlPlane struct {
	env        *envtest.Environment
	client     client.Client
	kubeconfig string
}

// startControlPlane starts kube-apiserver and etcd from assets with
// Gatekeeper's CRDs installed, writes an admin kubeconfig into work and
// creates the namespaces Gatekeeper and the reviews need.
func startControlPlane(assets, crds, work string) (*controlPlane, error) {
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			return nil, fmt.Errorf("KUBEBUILDER_ASSETS=%s: %w (run hack/e2e-assets.sh)", assets, err)
		}
	}
	cp := &controlPlane{env: &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		CRDDirectoryPaths:        []string{crds},
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}}
	cfg, err := cp.env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	fail := func(err error) (*controlPlane, error) { cp.stop(); return nil, err }
	admin, err := cp.env.AddUser(envtest.User{Name: "bench-gatekeeper", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fail(err)
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		return fail(err)
	}
	cp.kubeconfig = filepath.Join(work, "gatekeeper.kubeconfig")
	if err := os.WriteFile(cp.kubeconfig, kc, 0o600); err != nil {
		return fail(err)
	}
	if cp.client, err = client.New(cfg, client.Options{}); err != nil {
		return fail(err)
	}
	for _, ns := range []string{gatekeeperNamespace, "tenant-a"} {
		err := cp.client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fail(fmt.Errorf("creating namespace %s: %w", ns, err))
		}
	}
	return cp, nil
}

func (cp *controlPlane) stop() {
	if cp != nil && cp.env != nil {
		_ = cp.env.Stop()
	}
}

// gatekeeperArgv is the manager's command line: the validating webhook,
// plus what a webhook needs when no other Gatekeeper pod runs — generate
// (creates each template's constraint CRD) and status (aggregates the
// templates' and constraints' status.byPod) — on port, with the bench's
// certificate.
func gatekeeperArgv(bin, certDir string, port, metricsPort, healthPort int) []string {
	return []string{bin,
		"--operation=webhook", "--operation=generate", "--operation=status",
		"--disable-cert-rotation", "--cert-dir=" + certDir,
		"--host=127.0.0.1", "--port=" + strconv.Itoa(port),
		"--health-addr=127.0.0.1:" + strconv.Itoa(healthPort),
		"--metrics-backend=prometheus", "--prometheus-port=" + strconv.Itoa(metricsPort),
		"--debug-use-fake-pod", // no Pod object in this control plane
		// the templates are Rego only; no ValidatingAdmissionPolicy objects
		"--default-create-vap-for-templates=false", "--default-create-vap-binding-for-constraints=false",
		"--log-level=ERROR",
	}
}

func unstructuredFromYAML(s string) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(s), &u.Object); err != nil {
		return nil, err
	}
	return u, nil
}

// installGatekeeperPolicies creates the templates and constraints and
// waits until Gatekeeper reports them created and enforced, then until
// its webhook answers the probe reviews as the bench expects (alice's
// image edit denied, Terraform's replicas change allowed, a Deployment
// without the app label denied).
func installGatekeeperPolicies(ctx context.Context, cp *controlPlane, c *http.Client, url string, probes []probe) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for _, s := range gatekeeperPolicies {
		u, err := unstructuredFromYAML(s)
		if err != nil {
			return err
		}
		if err := cp.client.Create(ctx, u); err != nil {
			return fmt.Errorf("creating ConstraintTemplate %s: %w", u.GetName(), err)
		}
	}
	// each template: status.created and a byPod entry without errors
	for _, s := range gatekeeperPolicies {
		u, _ := unstructuredFromYAML(s)
		if err := poll(ctx, "ConstraintTemplate "+u.GetName()+" created", func() (bool, string, error) {
			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(u.GroupVersionKind())
			if err := cp.client.Get(ctx, client.ObjectKey{Name: u.GetName()}, got); err != nil {
				return false, "", err
			}
			created, _, _ := unstructured.NestedBool(got.Object, "status", "created")
			byPod, _, _ := unstructured.NestedSlice(got.Object, "status", "byPod")
			state := fmt.Sprintf("status %v", got.Object["status"])
			if !created || len(byPod) == 0 {
				return false, state, nil
			}
			for _, p := range byPod {
				if errs, _ := p.(map[string]any)["errors"].([]any); len(errs) > 0 {
					return false, state, fmt.Errorf("ConstraintTemplate %s: %v", u.GetName(), errs)
				}
			}
			return true, state, nil
		}); err != nil {
			return err
		}
	}
	// the constraint kinds exist once the templates are created
	for _, s := range gatekeeperConstraints {
		u, err := unstructuredFromYAML(s)
		if err != nil {
			return err
		}
		if err := poll(ctx, "creating "+u.GetKind()+" "+u.GetName(), func() (bool, string, error) {
			err := cp.client.Create(ctx, u.DeepCopy())
			return err == nil || apierrors.IsAlreadyExists(err), fmt.Sprint(err), nil
		}); err != nil {
			return err
		}
	}
	for _, s := range gatekeeperConstraints {
		u, _ := unstructuredFromYAML(s)
		if err := poll(ctx, u.GetKind()+" "+u.GetName()+" enforced", func() (bool, string, error) {
			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(schema.GroupVersionKind{Group: "constraints.gatekeeper.sh", Version: "v1beta1", Kind: u.GetKind()})
			if err := cp.client.Get(ctx, client.ObjectKey{Name: u.GetName()}, got); err != nil {
				return false, "", err
			}
			byPod, _, _ := unstructured.NestedSlice(got.Object, "status", "byPod")
			state := fmt.Sprintf("status %v", got.Object["status"])
			for _, p := range byPod {
				if e, _ := p.(map[string]any)["enforced"].(bool); e {
					return true, state, nil
				}
			}
			return false, state, nil
		}); err != nil {
			return err
		}
	}
	// enforced in status is not yet answering: probe the webhook itself
	return poll(ctx, "Gatekeeper answering the probe reviews", func() (bool, string, error) {
		for _, p := range probes {
			a, err := post(ctx, c, url, p.body)
			if err != nil {
				return false, p.name + ": " + err.Error(), nil
			}
			if a.Response.Allowed != p.allowed {
				return false, fmt.Sprintf("%s: allowed=%v, want %v", p.name, a.Response.Allowed, p.allowed), nil
			}
		}
		return true, "", nil
	})
}

// probe is one review with the answer Gatekeeper must give.
type probe struct {
	name    string
	body    []byte
	allowed bool
}

// gatekeeperProbes: the two Deployment reviews of the rows and
// Terraform's replicas change without the app label (required labels).
func gatekeeperProbes(m *mix) ([]probe, error) {
	var out []probe
	for _, name := range []string{"deployment-update-hand-edit-denied", "deployment-update-owner"} {
		t := m.byName(name)
		if t == nil {
			return nil, fmt.Errorf("no review type %s", name)
		}
		out = append(out, probe{name: name, body: t.bodies[0], allowed: t.want("gatekeeper")})
	}
	if m.unlabelled == nil {
		return nil, errors.New("no unlabelled Deployment review")
	}
	return append(out, probe{name: "deployment-update-owner without the app label", body: m.unlabelled, allowed: false}), nil
}

// poll calls f every 200 ms until it reports done, returns an error, or
// ctx ends (the error then names what was awaited and the last state).
func poll(ctx context.Context, what string, f func() (bool, string, error)) error {
	last := ""
	for {
		done, state, err := f()
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("%s: %w", what, err)
		}
		if done {
			return nil
		}
		if state != "" {
			last = state
		} else if err != nil {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting for %s (last: %s)", what, strings.TrimSpace(last))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// startGatekeeper starts the control plane and Gatekeeper's manager
// (pinned like the other servers), installs the constraints and returns
// once Gatekeeper answers the probes as the bench expects.
func startGatekeeper(o *options, work, certDir string, c *http.Client, probes []probe) (*server, *controlPlane, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if o.gatekeeper == "" || assets == "" {
		return nil, nil, errors.New("target gatekeeper needs its build and a control plane; run:\n\t" +
			"DRIFTGUARD_BENCH_GATEKEEPER=$(hack/bench-assets.sh | tail -n1) KUBEBUILDER_ASSETS=$(hack/e2e-assets.sh | tail -n1) go run ./test/bench -targets ...,gatekeeper")
	}
	bin := filepath.Join(o.gatekeeper, "gatekeeper")
	if _, err := os.Stat(bin); err != nil {
		return nil, nil, fmt.Errorf("-gatekeeper %s: %w (run hack/bench-assets.sh)", o.gatekeeper, err)
	}
	// envtest logs through controller-runtime; keep its "SetLogger was never called" stack out of the output
	ctrllog.SetLogger(logr.Discard())
	begin := time.Now()
	cp, err := startControlPlane(assets, filepath.Join(o.gatekeeper, "crds"), work)
	if err != nil {
		return nil, nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		cp.stop()
		return nil, nil, err
	}
	srv, err := start("gatekeeper", gatekeeperArgv(bin, certDir, ports[0], ports[1], ports[2]), o.cpu, o.procs, ports[0], "", work,
		"KUBECONFIG="+cp.kubeconfig, "POD_NAMESPACE="+gatekeeperNamespace)
	if err != nil {
		cp.stop()
		return nil, nil, err
	}
	url := o.urls("gatekeeper", srv.port)[0]
	if err := installGatekeeperPolicies(context.Background(), cp, c, url, probes); err != nil {
		srv.stop()
		cp.stop()
		b, _ := os.ReadFile(srv.log)
		return nil, nil, fmt.Errorf("gatekeeper: %w\n%s", err, tailText(string(b), 20))
	}
	fmt.Fprintf(os.Stderr, "bench: gatekeeper enforcing its two constraints %s after the control plane started\n", time.Since(begin).Round(100*time.Millisecond))
	return srv, cp, nil
}
