package owners

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	metadatafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
)

var deployments = metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}

func TestLiveReaderReadsMetadataWithManagedFields(t *testing.T) {
	c := metadatafake.NewSimpleMetadataClient(metadatafake.NewTestScheme())
	var asked clienttesting.Action
	c.PrependReactor("get", "deployments", func(a clienttesting.Action) (bool, runtime.Object, error) {
		asked = a
		if a.(clienttesting.GetAction).GetName() != "api" {
			return true, nil, apierrors.NewNotFound(schema.GroupResource{Group: "apps", Resource: "deployments"}, a.(clienttesting.GetAction).GetName())
		}
		return true, &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
			Name: "api", Namespace: "tenant-a", UID: "u1",
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "Terraform", Operation: metav1.ManagedFieldsOperationApply,
				FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{"f:replicas":{}}}`)}}},
		}}, nil
	})
	r := &LiveReader{Client: c, Timeout: time.Second}
	b, err := r.ReadParent(context.Background(), deployments, "tenant-a", "api")
	if err != nil {
		t.Fatal(err)
	}
	if asked == nil || asked.GetNamespace() != "tenant-a" || asked.GetResource().Resource != "deployments" || asked.GetResource().Group != "apps" {
		t.Errorf("asked %v", asked)
	}
	if s := string(b); !strings.Contains(s, `"manager":"Terraform"`) || !strings.Contains(s, `"f:replicas"`) || !strings.Contains(s, `"uid":"u1"`) {
		t.Errorf("read %s, want the metadata with managedFields", s)
	}
	if _, err := r.ReadParent(context.Background(), deployments, "tenant-a", "gone"); err == nil || err.Error() != "not found" {
		t.Errorf("missing object: %v, want not found", err)
	}
}

func TestLiveReaderSaysWhenTheAPIServerDoesNotAnswer(t *testing.T) {
	c := metadatafake.NewSimpleMetadataClient(metadatafake.NewTestScheme())
	r := &LiveReader{Client: c, Timeout: time.Millisecond}
	c.PrependReactor("get", "deployments", func(clienttesting.Action) (bool, runtime.Object, error) {
		// the fake ignores contexts: answer after the reader's deadline, as
		// a real client whose request was cut short does
		time.Sleep(50 * time.Millisecond)
		return true, nil, errors.New("Get \"https://…\": context deadline exceeded")
	})
	_, err := r.ReadParent(context.Background(), deployments, "tenant-a", "api")
	if err == nil || err.Error() != "no answer from the API server within 1ms" {
		t.Errorf("error %v, want no answer from the API server within 1ms", err)
	}
}
