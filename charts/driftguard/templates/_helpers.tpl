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
{{- $conds := $v.matchConditions | default list }}
{{- if and $v.narrowing.enabled (not (include "driftguard.narrowsAtRunTime" $root)) }}
{{- $expr := include "driftguard.narrowingExpression" $root }}
{{- if eq .kind "mutate" }}
{{- $expr = include "driftguard.narrowingMutateExpression" (dict "root" $root "validate" $expr) }}
{{- end }}
{{- $conds = append (deepCopy $conds) (dict "name" "a-policy-can-answer" "expression" $expr) }}
{{- end }}
{{- if $conds }}
{{- $_ := set $common "matchConditions" $conds }}
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

{{/*
"true" when the binary sets a-policy-can-answer itself (--narrow-webhooks):
webhook.narrowing.enabled and .selfManaged with certificates.mode
selfManaged. The chart then renders no condition of its own.
*/}}
{{- define "driftguard.narrowsAtRunTime" -}}
{{- $n := .Values.webhook.narrowing }}
{{- if and $n.enabled $n.selfManaged (eq .Values.certificates.mode "selfManaged") }}true{{ end }}
{{- end }}

{{/* "true" when the audit runs on an elected leader (several replicas). */}}
{{- define "driftguard.leaderElection" -}}
{{- if and (include "driftguard.cluster" .) .Values.server.audit .Values.server.leaderElection (gt (int .Values.replicaCount) 1) }}true{{ end }}
{{- end }}

{{/*
driftguard.narrowingExpression (webhook.narrowing.enabled): a CEL
condition that is true for every request a bundled policy, or the
mutating webhook's drift record, can answer, so the API server calls
driftguard for nothing else. A request is sent when
  - it is a subresource (the scale rules), or
  - its kind is in webhook.narrowing.kinds for its operation (the kinds
    the policies with a kinds list declare), or
  - it is an UPDATE by a person (not system:*, no service account) of an
    audited kind (config audit.kinds: revert_warning's input.reverts
    comes from the audit's revert history), or
  - with webhook.narrowing.configMapsByName, it is a ConfigMap named in
    tenancy_guard's protectedConfigMaps or a versionMatrix input (the
    only ConfigMaps tenancy_guard and version_matrix answer; ConfigMap
    is then left out of the kinds), or
  - it is a CREATE/UPDATE made in a deprecated version (deprecated_apis:
    driftguard.deprecatedVersions plus the policy's params.extra rows), or
  - it is an UPDATE whose oldObject or object, or a DELETE whose
    oldObject, shows what the kinds ["*"] policies (owned_fields,
    operator_state, revert_warning) and the drift record read: the owner
    or drift annotation, an operator bookkeeping annotation
    (operator_state's annotationPrefixes), an Argo CD tracking-id
    annotation, a Flux Kustomization label, a managedFields entry of a
    declared owner's manager, a controller ownerReference (on DELETE:
    one of a kind a declared owner has).
Every field is guarded with has(): an error would apply failurePolicy.
test/chart/narrowing_test.go evaluates it over the policy suites and
fixture reviews.
*/}}
{{- define "driftguard.narrowingExpression" -}}
{{- $n := .Values.webhook.narrowing }}
{{- $cfg := include "driftguard.configYAML" . | fromYaml }}
{{- $kinds := dict }}
{{- range $op := list "CREATE" "UPDATE" "DELETE" }}
{{- $k := get ($n.kinds | default dict) $op | default list }}
{{- if $n.configMapsByName }}{{- $k = without $k "ConfigMap" }}{{- end }}
{{- $_ := set $kinds $op (include "driftguard.celList" ($k | uniq | sortAlpha)) }}
{{- end }}
{{- $audited := list }}
{{- range ($cfg.audit).kinds }}{{- $audited = append $audited .kind }}{{- end }}
{{- $configMaps := list }}
{{- range (((($cfg.policies).tenancy_guard).params).protectedConfigMaps) }}{{- $configMaps = append $configMaps . }}{{- end }}
{{- range $cfg.versionMatrix }}{{- range .inputs }}{{- $configMaps = append $configMaps .configMap }}{{- end }}{{- end }}
{{- $gvs := list }}
{{- $gvks := list }}
{{- range (include "driftguard.deprecatedVersions" . | fromYamlArray) }}
{{- if eq .kind "*" }}{{- $gvs = append $gvs .gv }}{{- else }}{{- $gvks = append $gvks (printf "%s/%s" .gv .kind) }}{{- end }}
{{- end }}
{{- range ((($cfg.policies).deprecated_apis).params).extra }}
{{- $gv := .version }}
{{- if .group }}{{- $gv = printf "%s/%s" .group .version }}{{- end }}
{{- if eq (.kind | default "*") "*" }}{{- $gvs = append $gvs $gv }}{{- else }}{{- $gvks = append $gvks (printf "%s/%s" $gv .kind) }}{{- end }}
{{- end }}
{{- $managers := list }}
{{- $prefixes := list }}
{{- $ownerKinds := list }}
{{- range $cfg.owners }}
{{- range .managers }}
{{- if hasSuffix "*" . }}{{- $prefixes = append $prefixes (trimSuffix "*" . | lower) }}{{- else }}{{- $managers = append $managers (lower .) }}{{- end }}
{{- end }}
{{- range .kinds }}{{- $ownerKinds = append $ownerKinds .kind }}{{- end }}
{{- end }}
{{- $annotations := list ($cfg.ownerAnnotation | default "driftguard.io/owner") ($cfg.driftAnnotation | default "driftguard.io/drift") "argocd.argoproj.io/tracking-id" }}
{{- $bookkeeping := ((($cfg.policies).operator_state).params).annotationPrefixes | default (list "kopf.zalando.org/") }}
{{- $labels := list "kustomize.toolkit.fluxcd.io/name" }}
{{- $mf := printf "m.manager.lowerAscii() in %s" (include "driftguard.celList" ($managers | uniq)) }}
{{- range ($prefixes | uniq) }}{{- $mf = printf "%s || m.manager.lowerAscii().startsWith(%s)" $mf (include "driftguard.celString" .) }}{{- end }}
{{- $marks := printf "(has(o.metadata.annotations) && (o.metadata.annotations.exists(k, k in %s || %s)) || has(o.metadata.labels) && o.metadata.labels.exists(k, k in %s) || has(o.metadata.managedFields) && o.metadata.managedFields.exists(m, has(m.manager) && (%s)))"
  (include "driftguard.celList" $annotations)
  (include "driftguard.celPrefixes" (dict "var" "k" "prefixes" $bookkeeping))
  (include "driftguard.celList" $labels)
  $mf }}
{{- $ctrl := "has(o.metadata.ownerReferences) && o.metadata.ownerReferences.exists(r, has(r.controller) && r.controller" }}
{{- $updateMarks := printf "[oldObject, object].exists(o, o != null && has(o.metadata) && (%s || %s)))" $marks $ctrl }}
{{- $deleteMarks := printf "[oldObject].exists(o, o != null && has(o.metadata) && (%s || %s && has(r.kind) && r.kind in %s)))" $marks $ctrl (include "driftguard.celList" ($ownerKinds | uniq)) }}
{{- $gvOf := "(k.group == '' ? k.version : k.group + '/' + k.version)" }}
{{- $deprecated := printf "(has(request.requestKind) ? [request.kind, request.requestKind] : [request.kind]).exists(k, %s in %s || %s + '/' + k.kind in %s)" $gvOf (include "driftguard.celList" ($gvs | uniq)) $gvOf (include "driftguard.celList" ($gvks | uniq)) }}
{{- $parts := list
  "has(request.subResource) && request.subResource != ''"
  (printf "request.operation == 'CREATE' && request.kind.kind in %s" (get $kinds "CREATE"))
  (printf "request.operation == 'UPDATE' && request.kind.kind in %s" (get $kinds "UPDATE"))
  (printf "request.operation == 'DELETE' && request.kind.kind in %s" (get $kinds "DELETE"))
  (printf "request.operation == 'UPDATE' && request.kind.kind in %s && has(request.userInfo.username) && request.userInfo.username != '' && !request.userInfo.username.startsWith('system:')" (include "driftguard.celList" ($audited | uniq | sortAlpha)))
  (printf "request.operation in ['CREATE', 'UPDATE'] && %s" $deprecated)
  (printf "request.operation == 'UPDATE' && %s" $updateMarks)
  (printf "request.operation == 'DELETE' && %s" $deleteMarks) }}
{{- if $n.configMapsByName }}
{{- $parts = append $parts (printf "request.kind.kind == 'ConfigMap' && request.kind.group == '' && ((has(request.namespace) ? request.namespace : '') + '/' + (has(request.name) ? request.name : '')) in %s" (include "driftguard.celList" ($configMaps | uniq | sortAlpha))) }}
{{- end }}
{{- join " ||\n" $parts }}
{{- end }}

{{/*
driftguard.narrowingMutateExpression: a-policy-can-answer of the mutating
entries. The mutating webhook answers with a patch only to keep the drift
record (its annotation is on oldObject or object), to record hand edits
that warn mode or break-glass allow, and with policies' patch rules (no
bundled policy has one). So it is sent requests with the drift annotation,
and those of members of config breakGlass.groups that the validating
entries are sent; with a policy in warn mode (config defaultMode or
policies.<name>.mode), or webhook.narrowing.patchPolicies, everything the
validating entries are sent. Arguments: dict with root and validate (the
validating entries' expression). Scale requests are answered without a
patch, so they are not sent unless as the above.
*/}}
{{- define "driftguard.narrowingMutateExpression" -}}
{{- $root := .root }}
{{- $cfg := include "driftguard.configYAML" $root | fromYaml }}
{{- $everything := $root.Values.webhook.narrowing.patchPolicies }}
{{- if eq ($cfg.defaultMode | default "enforce") "warn" }}{{- $everything = true }}{{- end }}
{{- range $name, $p := $cfg.policies }}{{- if eq ((($p | default dict).mode) | default "") "warn" }}{{- $everything = true }}{{- end }}{{- end }}
{{- if $everything }}
{{- .validate }}
{{- else }}
{{- $drift := $cfg.driftAnnotation | default "driftguard.io/drift" }}
{{- $groups := ($cfg.breakGlass).groups | default list }}
{{- printf "[oldObject, object].exists(o, o != null && has(o.metadata) && has(o.metadata.annotations) && %s in o.metadata.annotations) ||\nhas(request.userInfo.groups) && request.userInfo.groups.exists(g, g in %s) && (\n%s)" (include "driftguard.celString" $drift) (include "driftguard.celList" $groups) .validate }}
{{- end }}
{{- end }}

{{/* driftguard.celString: a string as a CEL string literal ('...', quotes and backslashes escaped). */}}
{{- define "driftguard.celString" -}}
{{- printf "'%s'" (. | toString | replace "\\" "\\\\" | replace "'" "\\'") }}
{{- end }}

{{/* driftguard.celList: a list of strings as a CEL list literal. */}}
{{- define "driftguard.celList" -}}
{{- $q := list }}
{{- range . }}{{- $q = append $q (include "driftguard.celString" .) }}{{- end }}
{{- printf "[%s]" (join ", " $q) }}
{{- end }}

{{/* driftguard.celPrefixes: var.startsWith(p) || ... for prefixes ("false" for none). */}}
{{- define "driftguard.celPrefixes" -}}
{{- $q := list }}
{{- range .prefixes }}{{- $q = append $q (printf "%s.startsWith(%s)" $.var (include "driftguard.celString" .)) }}{{- end }}
{{- if $q }}{{ join " || " $q }}{{ else }}false{{ end }}
{{- end }}

{{/*
driftguard.deprecatedVersions: the API versions the deprecated_apis
policy's builtin table warns about, as gv (group/version, or version for
the core group) and kind ("*" for every kind). test/chart checks it
against the policy.
*/}}
{{- define "driftguard.deprecatedVersions" -}}
- {gv: extensions/v1beta1, kind: "*"}
- {gv: apps/v1beta1, kind: "*"}
- {gv: apps/v1beta2, kind: "*"}
- {gv: networking.k8s.io/v1beta1, kind: "*"}
- {gv: policy/v1beta1, kind: "*"}
- {gv: batch/v1beta1, kind: "*"}
- {gv: autoscaling/v2beta1, kind: "*"}
- {gv: autoscaling/v2beta2, kind: "*"}
- {gv: discovery.k8s.io/v1beta1, kind: "*"}
- {gv: events.k8s.io/v1beta1, kind: "*"}
- {gv: node.k8s.io/v1beta1, kind: "*"}
- {gv: storage.k8s.io/v1beta1, kind: "*"}
- {gv: flowcontrol.apiserver.k8s.io/v1beta1, kind: "*"}
- {gv: flowcontrol.apiserver.k8s.io/v1beta2, kind: "*"}
- {gv: flowcontrol.apiserver.k8s.io/v1beta3, kind: "*"}
- {gv: admissionregistration.k8s.io/v1beta1, kind: "*"}
- {gv: apiextensions.k8s.io/v1beta1, kind: "*"}
- {gv: apiregistration.k8s.io/v1beta1, kind: "*"}
- {gv: certificates.k8s.io/v1beta1, kind: "*"}
- {gv: coordination.k8s.io/v1beta1, kind: "*"}
- {gv: rbac.authorization.k8s.io/v1beta1, kind: "*"}
- {gv: scheduling.k8s.io/v1beta1, kind: "*"}
- {gv: v1, kind: Endpoints}
{{- end }}
