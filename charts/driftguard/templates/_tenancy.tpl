{{/*
Opting out of enforcement (policy tenancy_guard, docs/policies/tenancy_guard.md).
*/}}

{{/* The ConfigMaps tenancy_guard protects: the chart's own config and policies, as a JSON list of namespace/name. */}}
{{- define "driftguard.protectedConfigMaps" -}}
{{- $f := include "driftguard.fullname" . }}
{{- toJson (list (printf "%s/%s-config" .Release.Namespace $f) (printf "%s/%s-policies" .Release.Namespace $f)) }}
{{- end }}

{{/* webhook.tenantNamespaceLabel as the policy's tenantLabel param (JSON). */}}
{{- define "driftguard.tenantLabelParam" -}}
{{- $tl := .Values.webhook.tenantNamespaceLabel }}
{{- toJson (dict "key" $tl.key "value" (toString $tl.value)) }}
{{- end }}

{{/*
The verbatim default config with the chart's tenancy_guard params: the two
param lines of files/config.yaml are replaced, so the comments stay.
*/}}
{{- define "driftguard.tenancyGuardFile" -}}
{{- $labelLine := `      tenantLabel: {key: driftguard.io/tenant, value: "true"}` }}
{{- $cmLine := `      protectedConfigMaps: []` }}
{{- if not (and (contains $labelLine .file) (contains $cmLine .file)) }}
{{- fail "files/config.yaml lacks the tenancy_guard param lines the chart fills in (tenantLabel, protectedConfigMaps); see templates/_tenancy.tpl" }}
{{- end }}
{{- $out := replace $labelLine (printf "      tenantLabel: %s" (include "driftguard.tenantLabelParam" .root)) .file }}
{{- replace $cmLine (printf "      protectedConfigMaps: %s" (include "driftguard.protectedConfigMaps" .root)) $out }}
{{- end }}

{{/*
Sets the tenancy_guard params in a merged config (in place): tenantLabel is
webhook.tenantNamespaceLabel (a different one given in values.config is an error:
the policy and the webhook entries must agree), protectedConfigMaps gets the
chart's own ConfigMaps added.
*/}}
{{- define "driftguard.tenancyGuardParams" -}}
{{- $root := .root }}
{{- $cfg := .config }}
{{- if not (kindIs "map" (get $cfg "policies")) }}{{ $_ := set $cfg "policies" dict }}{{ end }}
{{- $policies := get $cfg "policies" }}
{{- if not (kindIs "map" (get $policies "tenancy_guard")) }}{{ $_ := set $policies "tenancy_guard" dict }}{{ end }}
{{- $guard := get $policies "tenancy_guard" }}
{{- if not (kindIs "map" (get $guard "params")) }}{{ $_ := set $guard "params" dict }}{{ end }}
{{- $params := get $guard "params" }}
{{- $want := include "driftguard.tenantLabelParam" $root | fromJson }}
{{- with dig "policies" "tenancy_guard" "params" "tenantLabel" "" ($root.Values.config | default dict) }}
{{- if or (ne (toString (get . "key")) $want.key) (ne (toString (get . "value")) $want.value) }}
{{- fail (printf "config.policies.tenancy_guard.params.tenantLabel (%s=%s) differs from webhook.tenantNamespaceLabel (%s=%s): set webhook.tenantNamespaceLabel only, the chart passes it to the policy" (toString (get . "key")) (toString (get . "value")) $want.key $want.value) }}
{{- end }}
{{- end }}
{{- $_ := set $params "tenantLabel" $want }}
{{- $given := get $params "protectedConfigMaps" }}
{{- if not (kindIs "slice" $given) }}{{ $given = list }}{{ end }}
{{- $_ := set $params "protectedConfigMaps" (concat $given (include "driftguard.protectedConfigMaps" $root | fromJsonArray) | uniq) }}
{{- end }}

{{/*
Two extra validating entries (webhook.guard.enabled):
- settings.validate.driftguard.io: the chart's own ConfigMaps in the release
  namespace (excluded from every other entry so driftguard's own pods never
  wait on driftguard). objectSelector on the chart's instance labels,
  namespaceSelector on the release namespace, failurePolicy Ignore: with
  driftguard down its own recovery (helm upgrade, kubectl edit) is never
  blocked; the policy checks the names.
- tenant-label.validate.driftguard.io: UPDATEs of a Namespace that had the
  tenant label and loses or changes it. The API server matches a
  Namespace's namespaceSelector against its new labels, so without this
  entry the opt-out would reach only the fail-open entry; the objectSelector
  matches the old labels too, and the matchCondition keeps every other
  Namespace update off a second call. failurePolicy.tenant (Fail).
*/}}
{{- define "driftguard.guardEntries" -}}
{{- $root := . }}
{{- $v := .Values.webhook }}
{{- $tl := $v.tenantNamespaceLabel }}
{{- $common := dict
  "admissionReviewVersions" (list "v1")
  "sideEffects" "NoneOnDryRun"
  "timeoutSeconds" (int $v.timeoutSeconds)
  "matchPolicy" "Equivalent"
  "clientConfig" (include "driftguard.clientConfig" (dict "root" $root "path" "/validate") | fromYaml)
}}
{{- $conds := $v.matchConditions | default list }}
{{- $settings := merge (dict
  "name" "settings.validate.driftguard.io"
  "failurePolicy" "Ignore"
  "namespaceSelector" (dict "matchExpressions" (list (dict "key" "kubernetes.io/metadata.name" "operator" "In" "values" (list .Release.Namespace))))
  "objectSelector" (dict "matchLabels" (include "driftguard.selectorLabels" $root | fromYaml))
  "rules" (list (dict "apiGroups" (list "") "apiVersions" (list "v1") "resources" (list "configmaps") "operations" (list "CREATE" "UPDATE" "DELETE") "scope" "Namespaced"))) (deepCopy $common) }}
{{- if $conds }}
{{- $_ := set $settings "matchConditions" $conds }}
{{- end }}
{{- $k := $tl.key | squote }}
{{- $val := toString $tl.value | squote }}
{{- $lost := dict "name" "tenant-label-removed-or-changed" "expression" (printf "has(oldObject.metadata.labels) && %s in oldObject.metadata.labels && oldObject.metadata.labels[%s] == %s && !(has(object.metadata.labels) && %s in object.metadata.labels && object.metadata.labels[%s] == %s)" $k $k $val $k $k $val) }}
{{- $label := merge (dict
  "name" "tenant-label.validate.driftguard.io"
  "failurePolicy" $v.failurePolicy.tenant
  "namespaceSelector" (dict "matchExpressions" (list (dict "key" "kubernetes.io/metadata.name" "operator" "NotIn" "values" (include "driftguard.excludedNamespaces" $root | fromJsonArray))))
  "objectSelector" (dict "matchLabels" (include "driftguard.tenantMatchLabels" $root | fromJson))
  "rules" (list (dict "apiGroups" (list "") "apiVersions" (list "v1") "resources" (list "namespaces") "operations" (list "UPDATE") "scope" "Cluster"))
  "matchConditions" (append (deepCopy $conds) $lost)) (deepCopy $common) }}
{{- toYaml (list $settings $label) }}
{{- end }}
