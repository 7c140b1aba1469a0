package findings

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	k8stesting "k8s.io/client-go/testing"
)

var (
	deployGVK = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	secretGVK = schema.GroupVersionKind{Version: "v1", Kind: "Secret"}
)

func testMapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	m.Add(deployGVK, meta.RESTScopeNamespace)
	m.Add(secretGVK, meta.RESTScopeNamespace)
	return m
}

// The dynamic client is read page by page (continue tokens) until the
// last page; metadata-only kinds never go through it.
func TestClusterListerPagesAndMetadataOnly(t *testing.T) {
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		{Group: "apps", Version: "v1", Resource: "deployments"}: "DeploymentList",
		{Version: "v1", Resource: "secrets"}:                    "SecretList",
	})
	var pages []string
	dyn.PrependReactor("list", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		la := a.(k8stesting.ListActionImpl)
		if la.ListOptions.Limit != pageSize || la.Namespace != "tenant-a" {
			return true, nil, fmt.Errorf("list options %+v in %q", la.ListOptions, la.Namespace)
		}
		pages = append(pages, la.ListOptions.Continue)
		l := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": "apps/v1", "kind": "DeploymentList"}}
		next := map[string]string{"": "p2", "p2": "p3", "p3": ""}[la.ListOptions.Continue]
		l.SetContinue(next)
		for i := 0; i < 2; i++ {
			u := unstructured.Unstructured{}
			u.SetAPIVersion("apps/v1")
			u.SetKind("Deployment")
			u.SetNamespace("tenant-a")
			u.SetName(fmt.Sprintf("d-%s-%d", la.ListOptions.Continue, i))
			l.Items = append(l.Items, u)
		}
		return true, l, nil
	})
	dyn.PrependReactor("list", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		t.Error("a metadata-only kind was read with its values")
		return true, nil, fmt.Errorf("no")
	})
	md := metadatafake.NewSimpleMetadataClient(metadatafake.NewTestScheme())
	md.PrependReactor("list", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, &metav1.List{Items: []runtime.RawExtension{{Object: &metav1.PartialObjectMetadata{
			ObjectMeta: metav1.ObjectMeta{Namespace: "tenant-a", Name: "db-creds"}}}}}, nil
	})
	c := ClusterLister{Mapper: testMapper(), Dynamic: dyn, Metadata: md}

	items, err := c.List(context.Background(), deployGVK, "tenant-a", false)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, it := range items {
		names = append(names, it["metadata"].(map[string]any)["name"].(string))
	}
	if strings.Join(pages, ",") != ",p2,p3" || len(items) != 6 || names[0] != "d--0" || names[5] != "d-p3-1" {
		t.Errorf("pages %q, items %v", pages, names)
	}

	secrets, err := c.List(context.Background(), secretGVK, "tenant-a", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(secrets) != 1 || secrets[0]["kind"] != "Secret" || secrets[0]["apiVersion"] != "v1" || secrets[0]["data"] != nil {
		t.Errorf("secrets %v", secrets)
	}

	if _, err := c.List(context.Background(), schema.GroupVersionKind{Group: "x.io", Version: "v1", Kind: "Nope"}, "", false); err == nil {
		t.Error("an unknown kind listed")
	}
}
