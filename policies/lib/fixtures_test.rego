# Shared fixtures for the bundled policies' unit tests: actors, owners,
# params and whole inputs shaped exactly as internal/input builds them
# (input.request, input.object, input.oldObject, input.actor,
# input.changes, input.owners, input.objectOwner, input.owner) with the
# default config (internal/config/default.yaml). Test files vary them
# with object.union. This package defines no test_ rules.
package driftguard.lib.fixtures_test

# Params as the loader builds them from the default config: only
# policies with params appear.
default_params := {"owned_fields": {
	"ignoredPaths": [
		"metadata.annotations[kubectl.kubernetes.io/restartedAt]",
		"spec.template.metadata.annotations[kubectl.kubernetes.io/restartedAt]",
		"metadata.annotations[kubectl.kubernetes.io/last-applied-configuration]",
		"metadata.annotations[driftguard.io/break-glass]",
		"metadata.annotations[driftguard.io/drift]",
	],
	"denyDelete": true,
}}

no_break_glass := {"reason": "", "allowed": false}

# Identities (docs/scenarios.md).
alice := {
	"username": "alice",
	"groups": ["devs", "system:authenticated"],
	"fieldManager": "kubectl-set",
	"owner": "",
	"person": true,
	"breakGlass": no_break_glass,
}

alice_with(field_manager) := object.union(alice, {"fieldManager": field_manager})

terraform_runner := {
	"username": "system:serviceaccount:infra:terraform",
	"groups": ["system:serviceaccounts", "system:serviceaccounts:infra", "system:authenticated"],
	"serviceAccount": {"namespace": "infra", "name": "terraform"},
	"fieldManager": "Terraform",
	"owner": "terraform",
	"person": false,
	"breakGlass": no_break_glass,
}

eso := {
	"username": "system:serviceaccount:external-secrets:external-secrets",
	"groups": ["system:serviceaccounts", "system:serviceaccounts:external-secrets", "system:authenticated"],
	"serviceAccount": {"namespace": "external-secrets", "name": "external-secrets"},
	"fieldManager": "external-secrets",
	"owner": "external-secrets",
	"person": false,
	"breakGlass": no_break_glass,
}

profile_controller := {
	"username": "system:serviceaccount:kubeflow:profile-controller",
	"groups": ["system:serviceaccounts", "system:serviceaccounts:kubeflow", "system:authenticated"],
	"serviceAccount": {"namespace": "kubeflow", "name": "profile-controller"},
	"fieldManager": "metacontroller",
	"owner": "profile-controller",
	"person": false,
	"breakGlass": no_break_glass,
}

# input.owners as rendered for an object (kind namespace/name) whose
# controlling owner is named owner_name ("" when it has none).
owners(kind, ns, name, owner_name) := {
	"terraform": {
		"display": "Terraform",
		"source": sprintf("the tenant's Terraform module for %s %s/%s (terraform plan/apply from the tenant repository)", [kind, ns, name]),
	},
	"external-secrets": {
		"display": "External Secrets Operator",
		"source": sprintf("the parameter store entries synced by ExternalSecret %s/%s (feature flags and secrets belong in the parameter store)", [ns, owner_name]),
	},
	"profile-controller": {
		"display": "Kubeflow profile controller",
		"source": sprintf("the profile controller's inputs: the kubeflow/pipeline-install-config ConfigMap and the profile Namespace %s", [owner_name]),
	},
}

request(group, kind, resource, ns, name, op) := {
	"uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
	"operation": op,
	"kind": {"group": group, "version": "v1", "kind": kind},
	"resource": {"group": group, "version": "v1", "resource": resource},
	"subResource": "",
	"name": name,
	"namespace": ns,
	"dryRun": false,
}

# ---------------------------------------------------------------------
# S1/S2: Secret tenant-a/api-feature-flags synced by ExternalSecret
# api-feature-flags; alice adds FEATURE_FLAG_ENABLE_AGENTS=True.

# Values that must never appear in a message (base64 as in the object).
secret_values := ["VHJ1ZQ==", "RmFsc2U=", "cG9zdGdyZXM6Ly9hcGk6czNjcjN0LXBhNTVAZGIvYXBp"]

es_owner_reference := {
	"apiVersion": "external-secrets.io/v1",
	"kind": "ExternalSecret",
	"name": "api-feature-flags",
	"uid": "6f1c2d3e-0000-4000-8000-0000000000e5",
	"controller": true,
	"blockOwnerDeletion": true,
}

es_secret_old := {
	"apiVersion": "v1",
	"kind": "Secret",
	"type": "Opaque",
	"metadata": {
		"name": "api-feature-flags",
		"namespace": "tenant-a",
		"uid": "0d0c6b2e-0000-4000-8000-0000000000a1",
		"labels": {"reconcile.external-secrets.io/managed": "true"},
		"ownerReferences": [es_owner_reference],
		"managedFields": [{
			"manager": "external-secrets",
			"operation": "Update",
			"apiVersion": "v1",
			"fieldsType": "FieldsV1",
			"fieldsV1": {
				"f:data": {".": {}, "f:FEATURE_FLAG_NEW_UI": {}, "f:database-url": {}},
				"f:metadata": {"f:ownerReferences": {".": {}, "k:{\"uid\":\"6f1c2d3e-0000-4000-8000-0000000000e5\"}": {}}},
				"f:type": {},
			},
		}],
	},
	"data": {
		"FEATURE_FLAG_NEW_UI": "RmFsc2U=",
		"database-url": "cG9zdGdyZXM6Ly9hcGk6czNjcjN0LXBhNTVAZGIvYXBp",
	},
}

es_secret_new := {
	"apiVersion": "v1",
	"kind": "Secret",
	"type": "Opaque",
	"metadata": object.remove(es_secret_old.metadata, ["managedFields"]),
	"data": object.union(es_secret_old.data, {"FEATURE_FLAG_ENABLE_AGENTS": "VHJ1ZQ=="}),
}

es_owner := {
	"reference": {
		"apiVersion": "external-secrets.io/v1",
		"kind": "ExternalSecret",
		"name": "api-feature-flags",
		"uid": "6f1c2d3e-0000-4000-8000-0000000000e5",
	},
	"group": "external-secrets.io",
	"declared": "external-secrets",
	"reconciler": {
		"name": "External Secrets Operator",
		"source": "the parameter store entries synced by ExternalSecret tenant-a/api-feature-flags",
		"reconciles": true,
		"known": false,
	},
}

add_flag_change := {
	"path": "data.FEATURE_FLAG_ENABLE_AGENTS",
	"op": "add",
	"managers": [],
	"owner": "external-secrets",
	"via": "ownerReference",
}

es_secret_update := {
	"request": request("", "Secret", "secrets", "tenant-a", "api-feature-flags", "UPDATE"),
	"object": es_secret_new,
	"oldObject": es_secret_old,
	"actor": alice_with("kubectl-edit"),
	"changes": [add_flag_change],
	"owners": owners("Secret", "tenant-a", "api-feature-flags", "api-feature-flags"),
	"objectOwner": {"name": "external-secrets", "via": "ownerReference"},
	"owner": es_owner,
}

# DELETE: no object, no changes.
es_secret_delete := {
	"request": request("", "Secret", "secrets", "tenant-a", "api-feature-flags", "DELETE"),
	"oldObject": es_secret_old,
	"actor": object.union(alice, {"fieldManager": ""}),
	"changes": [],
	"owners": owners("Secret", "tenant-a", "api-feature-flags", "api-feature-flags"),
	"objectOwner": {"name": "external-secrets", "via": "ownerReference"},
	"owner": es_owner,
}

# ---------------------------------------------------------------------
# S3-S7, S18: Deployment tenant-a/api whose pod template is owned
# by the Terraform manager in managedFields.

image_path := "spec.template.spec.containers[api].image"

tf_deployment_old := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {
		"name": "api",
		"namespace": "tenant-a",
		"uid": "0d0c6b2e-0000-4000-8000-000000000001",
		"managedFields": [{
			"manager": "Terraform",
			"operation": "Apply",
			"apiVersion": "apps/v1",
			"fieldsType": "FieldsV1",
			"fieldsV1": {"f:spec": {
				"f:replicas": {},
				"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"api\"}": {".": {}, "f:image": {}, "f:name": {}}}}},
			}},
		}],
	},
	"spec": {
		"replicas": 2,
		"selector": {"matchLabels": {"app": "api"}},
		"template": {
			"metadata": {"labels": {"app": "api"}},
			"spec": {"containers": [{"name": "api", "image": "ghcr.io/acme/api:1.0.0"}]},
		},
	},
}

tf_deployment_new := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": object.remove(tf_deployment_old.metadata, ["managedFields"]),
	"spec": object.union(tf_deployment_old.spec, {"template": {
		"metadata": {"labels": {"app": "api"}},
		"spec": {"containers": [{"name": "api", "image": "ghcr.io/acme/api:1.1.0"}]},
	}}),
}

tf_image_change := {
	"path": image_path,
	"op": "replace",
	"managers": ["Terraform"],
	"owner": "terraform",
	"via": "managedFields",
}

# kubectl set image deployment/api api=ghcr.io/acme/api:1.1.0 (S3).
tf_image_update := {
	"request": request("apps", "Deployment", "deployments", "tenant-a", "api", "UPDATE"),
	"object": tf_deployment_new,
	"oldObject": tf_deployment_old,
	"actor": alice,
	"changes": [tf_image_change],
	"owners": owners("Deployment", "tenant-a", "api", ""),
	"objectOwner": {"name": "terraform", "via": "managedFields"},
}

tf_deployment_delete := {
	"request": request("apps", "Deployment", "deployments", "tenant-a", "api", "DELETE"),
	"oldObject": tf_deployment_old,
	"actor": object.union(alice, {"fieldManager": ""}),
	"changes": [],
	"owners": owners("Deployment", "tenant-a", "api", ""),
	"objectOwner": {"name": "terraform", "via": "managedFields"},
}

# ---------------------------------------------------------------------
# Helpers.

# Every message any bundled policy returns for an input.
all_messages(inp, params) := {f.msg |
	fs := [
		data.driftguard.policies.owned_fields.deny,
		data.driftguard.policies.externalsecret_owned.deny,
		data.driftguard.policies.externalsecret_owned.warn,
		data.driftguard.policies.revert_warning.warn,
	] with input as inp with data.driftguard.params as params
	some found in fs
	some f in found
}
