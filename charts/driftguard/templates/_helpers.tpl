{{/* Chart name, at most 63 characters. */}}
{{- define "driftguard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: <release>-<chart>, or the release name when it already contains
the chart name. At most 52 characters so suffixed names (-tls, -selfsigned,
-validating ...) stay within the 63-character label limit.
*/}}
{{- define "driftguard.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "driftguard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard labels (https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/). */}}
{{- define "driftguard.labels" -}}
helm.sh/chart: {{ include "driftguard.chart" . }}
{{ include "driftguard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: admission-webhook
app.kubernetes.io/part-of: driftguard
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels: stable across upgrades, never add to them. */}}
{{- define "driftguard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "driftguard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "driftguard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "driftguard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "driftguard.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Names of the two webhook configurations (cluster-scoped, so namespaced by release). */}}
{{- define "driftguard.validatingWebhookName" -}}
{{- printf "%s-validating" (include "driftguard.fullname" .) }}
{{- end }}
{{- define "driftguard.mutatingWebhookName" -}}
{{- printf "%s-mutating" (include "driftguard.fullname" .) }}
{{- end }}

{{/* The Secret holding tls.crt and tls.key. */}}
{{- define "driftguard.tlsSecretName" -}}
{{- if eq .Values.certificates.mode "provided" }}
{{- required "certificates.provided.secretName is required when certificates.mode is provided" .Values.certificates.provided.secretName }}
{{- else }}
{{- default (printf "%s-tls" (include "driftguard.fullname" .)) .Values.certificates.secretName }}
{{- end }}
{{- end }}

{{/* cert-manager serving Certificate name (its CA is injected into the webhooks). */}}
{{- define "driftguard.servingCertificateName" -}}
{{- printf "%s-serving" (include "driftguard.fullname" .) }}
{{- end }}

{{/* Service DNS names the serving certificate must cover. */}}
{{- define "driftguard.dnsNames" -}}
{{- $svc := include "driftguard.fullname" . -}}
- {{ $svc }}
- {{ $svc }}.{{ .Release.Namespace }}
- {{ $svc }}.{{ .Release.Namespace }}.svc
- {{ $svc }}.{{ .Release.Namespace }}.svc.cluster.local
{{- end }}

{{/* Annotations shared by both webhook configurations, as a JSON object. */}}
{{- define "driftguard.webhookAnnotations" -}}
{{- $a := dict }}
{{- if eq .Values.certificates.mode "certManager" }}
{{- $_ := set $a "cert-manager.io/inject-ca-from" (printf "%s/%s" .Release.Namespace (include "driftguard.servingCertificateName" .)) }}
{{- end }}
{{- with .Values.webhook.annotations }}
{{- $a = merge $a . }}
{{- end }}
{{- toJson $a }}
{{- end }}

{{/* The tenant namespaceSelector matchLabels (one label). */}}
{{- define "driftguard.tenantMatchLabels" -}}
{{- $l := .Values.webhook.tenantNamespaceLabel }}
{{- toJson (dict $l.key $l.value) }}
{{- end }}

{{/* Namespaces never sent to the webhook: values plus the release namespace. */}}
{{- define "driftguard.excludedNamespaces" -}}
{{- $ns := concat .Values.webhook.excludeNamespaces (list .Release.Namespace) | uniq }}
{{- toJson $ns }}
{{- end }}

{{/*
The two webhook entries of a configuration. Arguments: dict with root (.),
kind ("validate" or "mutate"), path.
- tenants: namespaced objects (and Namespace objects) whose namespace has the
  tenant label; failurePolicy.tenant (Fail).
- others: everything else, including cluster-scoped objects, which the API
  server never filters by namespaceSelector; failurePolicy.other (Ignore).
  Giving the tenant entry only namespaced rules (plus namespaces) keeps
  cluster-scoped objects out of the fail-closed entry and off a double call.
*/}}
{{- define "driftguard.webhookEntries" -}}
{{- $root := .root }}
{{- $v := $root.Values.webhook }}
{{- $tl := $v.tenantNamespaceLabel }}
{{- $excluded := include "driftguard.excludedNamespaces" $root | fromJsonArray }}
{{- $common := dict
  "admissionReviewVersions" (list "v1")
  "sideEffects" "NoneOnDryRun"
  "timeoutSeconds" (int $v.timeoutSeconds)
  "matchPolicy" "Equivalent"
  "clientConfig" (include "driftguard.clientConfig" (dict "root" $root "path" .path) | fromYaml)
}}
{{- if $v.matchConditions }}
{{- $_ := set $common "matchConditions" $v.matchConditions }}
{{- end }}
{{- if eq .kind "mutate" }}
{{- $_ := set $common "reinvocationPolicy" $v.mutating.reinvocationPolicy }}
{{- end }}
{{- $exclude := dict "key" "kubernetes.io/metadata.name" "operator" "NotIn" "values" $excluded }}
{{- $nsRules := list }}
{{- $allRules := list }}
{{- range $v.rules }}
{{- $r := merge (omit . "scope") (dict "operations" $v.operations) }}
{{- $nsRules = append $nsRules (merge (dict "scope" "Namespaced") $r) }}
{{- $allRules = append $allRules (merge (dict "scope" "*") $r) }}
{{- end }}
{{- /* Namespace objects are cluster-scoped but filtered by their own labels: tenant ones belong to the tenant entry. */}}
{{- $coversNamespaces := false }}
{{- range $v.rules }}
{{- if and (or (has "*" .apiGroups) (has "" .apiGroups)) (or (has "*" .resources) (has "namespaces" .resources)) }}
{{- $coversNamespaces = true }}
{{- end }}
{{- end }}
{{- if $coversNamespaces }}
{{- $nsRules = append $nsRules (dict "apiGroups" (list "") "apiVersions" (list "v1") "resources" (list "namespaces") "operations" $v.operations "scope" "Cluster") }}
{{- end }}
{{- $tenant := merge (dict
  "name" (printf "tenants.%s.driftguard.io" .kind)
  "failurePolicy" $v.failurePolicy.tenant
  "namespaceSelector" (dict "matchLabels" (include "driftguard.tenantMatchLabels" $root | fromJson) "matchExpressions" (list $exclude))
  "rules" $nsRules) (deepCopy $common) }}
{{- $other := merge (dict
  "name" (printf "others.%s.driftguard.io" .kind)
  "failurePolicy" $v.failurePolicy.other
  "namespaceSelector" (dict "matchExpressions" (list (dict "key" $tl.key "operator" "NotIn" "values" (list $tl.value)) $exclude))
  "rules" $allRules) (deepCopy $common) }}
{{- toYaml (list $tenant $other) }}
{{- end }}

{{- define "driftguard.clientConfig" -}}
{{- $root := .root }}
service:
  name: {{ include "driftguard.fullname" $root }}
  namespace: {{ $root.Release.Namespace }}
  path: {{ .path }}
  port: {{ $root.Values.service.port }}
{{- if eq $root.Values.certificates.mode "provided" }}
caBundle: {{ required "certificates.provided.caBundle is required when certificates.mode is provided" $root.Values.certificates.provided.caBundle }}
{{- end }}
{{- end }}

{{/* The rendered config file. */}}
{{- define "driftguard.configYAML" -}}
{{- $file := .Files.Get "files/config.yaml" }}
{{- $secrets := (.Values.audit).secrets | default dict }}
{{- if or .Values.config $secrets.enabled }}
{{- $merged := fromYaml $file }}
{{- include "driftguard.deepMerge" (dict "dst" $merged "src" (deepCopy (.Values.config | default dict))) }}
{{- if $secrets.enabled }}
{{- /* audit.secrets.enabled: audit Secrets (metadata only), unless listed already */}}
{{- $audit := get $merged "audit" | default dict }}
{{- $kinds := get $audit "kinds" | default list }}
{{- $has := false }}
{{- range $kinds }}{{- if and (eq (.group | default "") "") (eq .kind "Secret") }}{{- $has = true }}{{- end }}{{- end }}
{{- if not $has }}
{{- $_ := set $audit "kinds" (append $kinds (dict "group" "" "version" "v1" "kind" "Secret" "metadataOnly" true)) }}
{{- $_ := set $merged "audit" $audit }}
{{- end }}
{{- end }}
{{- include "driftguard.tenancyGuardParams" (dict "root" . "config" $merged) }}
{{- toYaml $merged }}
{{- else }}
{{- include "driftguard.tenancyGuardFile" (dict "root" . "file" $file) }}
{{- end }}
{{- end }}

{{/*
driftguard.auditsSecrets is "true" when the rendered config audits the
core Secret kind.
*/}}
{{- define "driftguard.auditsSecrets" -}}
{{- $config := include "driftguard.configYAML" . | fromYaml }}
{{- range ($config.audit).kinds }}{{- if and (eq (.group | default "") "") (eq .kind "Secret") }}true{{- end }}{{- end }}
{{- end }}

{{/*
deepMerge copies src into dst (in place): maps merge key by key, anything
else (lists, scalars, including false, 0 and "") replaces. Unlike sprig's
mergeOverwrite it does not skip "empty" values such as false.
*/}}
{{- define "driftguard.deepMerge" -}}
{{- $dst := .dst }}
{{- range $k, $v := .src }}
{{- if and (kindIs "map" $v) (kindIs "map" (get $dst $k)) }}
{{- include "driftguard.deepMerge" (dict "dst" (get $dst $k) "src" $v) }}
{{- else }}
{{- $_ := set $dst $k $v }}
{{- end }}
{{- end }}
{{- end }}

{{/* "true" when the binary talks to the cluster (--cluster); selfManaged certificates need it. */}}
{{- define "driftguard.cluster" -}}
{{- if or .Values.server.clusterLookups (eq .Values.certificates.mode "selfManaged") }}true{{ end }}
{{- end }}

{{/* "true" when the audit runs on an elected leader (several replicas). */}}
{{- define "driftguard.leaderElection" -}}
{{- if and (include "driftguard.cluster" .) .Values.server.audit .Values.server.leaderElection (gt (int .Values.replicaCount) 1) }}true{{ end }}
{{- end }}
