package input

import (
	"testing"

	"github.com/driftguard/driftguard/internal/config"
)

// Removing a declared owner's managedFields entry drops its ownership even
// when an entry of the same manager for the status subresource stays: the
// status entry owns no spec fields.
func TestDroppedOwnershipNotHiddenByStatusEntry(t *testing.T) {
	b := NewBuilder(config.Default(), nil).WithoutCache()
	old := statefulSet(typedManaged("HashiCorp"), "ghcr.io/acme/db:1.0.0")
	statusOnly := `,"managedFields":[{"manager":"HashiCorp","operation":"Update","apiVersion":"apps/v1","fieldsType":"FieldsV1",` +
		`"fieldsV1":{"f:status":{"f:replicas":{}}},"subresource":"status"}]`
	in := build(t, b, request{gvk: statefulSetGVK, ns: "tenant-a", name: "db", user: alice,
		old: old, obj: statefulSet(statusOnly, "ghcr.io/acme/db:1.0.0")})
	if len(in.Changes) != 1 || in.Changes[0].Path != "metadata.managedFields[HashiCorp]" || in.Changes[0].Owner != "terraform" || in.Changes[0].Op != "remove" {
		t.Errorf("main entry removed, status entry kept: changes %+v, want remove of metadata.managedFields[HashiCorp] owned by terraform", in.Changes)
	}
}
