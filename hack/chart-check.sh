#!/usr/bin/env bash
# Checks the Helm chart in charts/driftguard with the real Helm, run as a Go
# tool from its own module (tools/helm/go.mod; no helm binary download):
#
#   1. helm lint --strict for the supported value sets;
#   2. helm template for each set, with quick checks of the output;
#   3. value sets that must be rejected (schema or template checks) fail;
#   4. the Go test in test/chart (detailed assertions on the parsed YAML,
#      and, with KUBEBUILDER_ASSETS set, the rendered objects created in a
#      real kube-apiserver: hack/e2e-assets.sh).
#
#   hack/chart-check.sh            all of it
#   SKIP_GO_TEST=1 hack/chart-check.sh   steps 1-3 only
#
# The first run builds Helm into the Go build cache (a few minutes).
# Run any helm command the same way:
#   go tool -modfile=tools/helm/go.mod helm template dg charts/driftguard --kube-version v1.37.0
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CHART=charts/driftguard
NS=driftguard-system
# helm built with `go tool` has no Kubernetes version stamped in and would
# assume v1.20, below the chart's kubeVersion (>=1.30, for matchConditions).
KUBE_VERSION=v1.37.0
export GOWORK=off
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
export HELM_CACHE_HOME="$TMP/helm/cache" HELM_CONFIG_HOME="$TMP/helm/config" HELM_DATA_HOME="$TMP/helm/data"

step() { printf '\n==> %s\n' "$*"; }
fail() { printf 'chart-check: FAIL: %s\n' "$*" >&2; exit 1; }

step "building helm (go tool -modfile=tools/helm/go.mod helm)"
go tool -modfile=tools/helm/go.mod helm version --short
# the cached executable: each `go tool` call would spend seconds on staleness checks
HELM="$(go tool -n -modfile=tools/helm/go.mod helm)"
[[ -x "$HELM" ]] || fail "cannot locate the helm executable ($HELM)"

# name|helm arguments (word-split)
SETS=(
  "defaults|"
  "selfManaged|--set certificates.mode=selfManaged"
  "provided|--set certificates.mode=provided --set certificates.provided.secretName=my-tls --set certificates.provided.caBundle=Q0EgUEVN"
  "monitoring|--set metrics.serviceMonitor.enabled=true --set metrics.prometheusRule.enabled=true"
  "replicas3-custom-tenant|--set replicaCount=3 --set webhook.tenantNamespaceLabel.key=platform.example.com/tenant --set-string webhook.tenantNamespaceLabel.value=yes"
  "networkPolicy|--set networkPolicy.enabled=true --set networkPolicy.webhook.cidrs={10.0.0.0/16}"
  "dashboard|--set dashboard.enabled=true"
  "clientAuthSecret|--set webhook.clientAuth.caSecret=apiserver-client-ca --set webhook.clientAuth.names={kube-apiserver,apiserver.example.com}"
  "clientAuthConfigMap|--set webhook.clientAuth.caConfigMap=apiserver-client-ca --set webhook.clientAuth.caKey=client-ca.pem"
)

# expect FILE PATTERN...: every extended regex matches a line of FILE
expect() {
  local file=$1; shift
  for re in "$@"; do
    grep -Eq -- "$re" "$file" || fail "$(basename "$file"): no line matches /$re/"
  done
}
# count FILE REGEX N: exactly N lines match
count() {
  local n
  n=$(grep -Ec -- "$2" "$1" || true)
  [[ "$n" == "$3" ]] || fail "$(basename "$1"): /$2/ matches $n lines, want $3"
}
refuse() {
  local file=$1; shift
  for re in "$@"; do
    if grep -Eq -- "$re" "$file"; then fail "$(basename "$file"): unexpected /$re/"; fi
  done
}

step "helm lint --strict"
for s in "${SETS[@]}"; do
  name=${s%%|*}; args=${s#*|}
  # shellcheck disable=SC2086
  "$HELM" lint "$CHART" --strict --kube-version "$KUBE_VERSION" $args >"$TMP/lint-$name.txt" 2>&1 \
    || { cat "$TMP/lint-$name.txt"; fail "helm lint --strict ($name)"; }
  echo "ok   lint $name"
done

step "helm template"
for s in "${SETS[@]}"; do
  name=${s%%|*}; args=${s#*|}
  out="$TMP/$name.yaml"
  # shellcheck disable=SC2086
  "$HELM" template dg "$CHART" -n "$NS" --kube-version "$KUBE_VERSION" $args >"$out" \
    || fail "helm template ($name)"
  # common to every set: tenants/others per configuration, plus the
  # validating settings.* (Ignore) and tenant-label.* (Fail) guard entries
  count "$out" '^kind: (Validating|Mutating)WebhookConfiguration$' 2
  count "$out" '^    failurePolicy: Fail$' 3
  count "$out" '^    failurePolicy: Ignore$' 3
  count "$out" '^  - admissionReviewVersions:$' 6
  count "$out" "^    sideEffects: NoneOnDryRun$" 6
  count "$out" "^    matchConditions:$" 6
  count "$out" "startsWith\(''system:node:''\)" 6
  count "$out" '^    name: settings.validate.driftguard.io$' 1
  count "$out" '^    name: tenant-label.validate.driftguard.io$' 1
  expect "$out" '^kind: Deployment$' '^kind: Service$' '^kind: ServiceAccount$' '^kind: ClusterRole$' \
    'runAsNonRoot: true' 'runAsUser: 65532' 'readOnlyRootFilesystem: true' 'allowPrivilegeEscalation: false' \
    '^ +- ALL$' 'type: RuntimeDefault' 'path: /healthz' 'path: /readyz' '- --cluster$' '- --leader-elect$' '- --shutdown-delay=' \
    '- kube-system$' "- $NS\$" 'key: kubernetes.io/metadata.name'
  # hot reload needs directory mounts; no CPU limit: the only cpu line is the request
  refuse "$out" 'subPath:'
  count "$out" '^ +cpu: ' 1
  echo "ok   template $name"
done

d="$TMP/defaults.yaml"
expect "$d" '^  replicas: 2$' '^kind: PodDisruptionBudget$' '^  minAvailable: 1$' \
  'cert-manager.io/inject-ca-from: '"$NS"'/dg-driftguard-serving' '^kind: Certificate$' '^kind: Issuer$' \
  'driftguard.io/tenant: "true"'
refuse "$d" '--cert-rotation' 'grafana_dashboard' '^kind: ServiceMonitor$' '^kind: PrometheusRule$' '^kind: NetworkPolicy$'
# the tenancy_guard params the chart fills in
expect "$d" 'tenantLabel: \{"key":"driftguard.io/tenant","value":"true"\}' \
  'protectedConfigMaps: \["'"$NS"'/dg-driftguard-config","'"$NS"'/dg-driftguard-policies"\]'
expect "$TMP/networkPolicy.yaml" '^kind: NetworkPolicy$' 'cidr: 10.0.0.0/16' 'port: 9443\}'
expect "$TMP/selfManaged.yaml" '- --cert-rotation$' "- --cert-secret=$NS/dg-driftguard-tls\$" \
  "- --cert-dns-name=dg-driftguard.$NS.svc\$" '- --webhook-config-names=dg-driftguard-validating,dg-driftguard-mutating$' '- --ca-overlap=1h$' \
  'resourceNames: \[dg-driftguard-validating\]' 'resourceNames: \[dg-driftguard-mutating\]' 'resourceNames: \[dg-driftguard-tls\]'
refuse "$TMP/selfManaged.yaml" '^kind: Certificate$' 'inject-ca-from'
expect "$TMP/provided.yaml" 'caBundle: Q0EgUEVN' 'secretName: my-tls'
refuse "$TMP/provided.yaml" '^kind: Certificate$' '^kind: Secret$' 'inject-ca-from'
# the shipped rules (deploy/prometheus/driftguard-rules.yaml, copied into the chart)
cmp -s deploy/prometheus/driftguard-rules.yaml "$CHART/files/prometheus-rules.yaml" \
  || fail "$CHART/files/prometheus-rules.yaml differs from deploy/prometheus/driftguard-rules.yaml (copy it)"
cmp -s deploy/grafana/driftguard-dashboard.json "$CHART/files/driftguard-dashboard.json" \
  || fail "$CHART/files/driftguard-dashboard.json differs from deploy/grafana/driftguard-dashboard.json (copy it)"
expect "$TMP/dashboard.yaml" '^  name: dg-driftguard-dashboard$' '^    grafana_dashboard: "1"$' \
  '^  driftguard-dashboard.json: \|-$' '"uid": "\$\{datasource\}"'
cmp -s internal/config/default.yaml "$CHART/files/config.yaml" \
  || fail "$CHART/files/config.yaml differs from internal/config/default.yaml (copy it)"
expect "$TMP/monitoring.yaml" '^kind: ServiceMonitor$' '^kind: PrometheusRule$' 'honorLabels: true' \
  'alert: DriftguardWebhookErrors' 'alert: DriftguardWebhookSlow' 'alert: DriftguardPolicyLoadFailed' \
  'alert: DriftguardCertificateExpiringSoon' 'alert: DriftguardHandEditDenialsSpike' 'alert: DriftguardBreakGlassUsed' \
  'driftguard_policy_last_load_failed' 'driftguard_certificate_expiry_timestamp_seconds'
expect "$TMP/replicas3-custom-tenant.yaml" '^  replicas: 3$' 'platform.example.com/tenant: "yes"' \
  'key: platform.example.com/tenant' 'tenantLabel: \{"key":"platform.example.com/tenant","value":"yes"\}'
refuse "$TMP/replicas3-custom-tenant.yaml" 'driftguard.io/tenant'
# webhook.clientAuth: off by default; a Secret's or ConfigMap's one key
# mounted (a directory, no subPath: checked above) and named by --client-ca-file
refuse "$d" '--client-ca-file' '--client-names' 'client-ca'
expect "$TMP/clientAuthSecret.yaml" '^            - --client-ca-file=/etc/driftguard/client-ca/ca.crt$' \
  '^            - "--client-names=kube-apiserver,apiserver.example.com"$' '^              mountPath: /etc/driftguard/client-ca$' \
  '^            secretName: apiserver-client-ca$' '^              - key: "ca.crt"$'
expect "$TMP/clientAuthConfigMap.yaml" '^            - --client-ca-file=/etc/driftguard/client-ca/client-ca.pem$' \
  '^              mountPath: /etc/driftguard/client-ca$' '^            name: apiserver-client-ca$' '^              - key: "client-ca.pem"$' \
  '^                path: "client-ca.pem"$'
refuse "$TMP/clientAuthConfigMap.yaml" '--client-names' 'secretName: apiserver-client-ca'

step "value sets that must be rejected"
BAD=(
  "replicaCount=0|--set replicaCount=0"
  "unknown value|--set replicas=3"
  "unknown certificate mode|--set certificates.mode=vault"
  "provided without a secret|--set certificates.mode=provided"
  "wildcard RBAC verb|--set-json rbac.extraClusterRules=[{\"apiGroups\":[\"\"],\"resources\":[\"pods\"],\"verbs\":[\"*\"]}]"
  "writable root filesystem|--set securityContext.readOnlyRootFilesystem=false"
  "timeout over 30s|--set webhook.timeoutSeconds=31"
  "bad config mode|--set config.defaultMode=block"
  "grace period shorter than the drain|--set terminationGracePeriodSeconds=10"
  "CA overlap not a duration|--set certificates.mode=selfManaged --set certificates.selfManaged.caOverlap=soon"
  "NetworkPolicy without webhook peers|--set networkPolicy.enabled=true"
  "NetworkPolicy CIDR without a prefix|--set networkPolicy.enabled=true --set networkPolicy.webhook.cidrs={10.0.0.1}"
  "tenancy_guard label not the webhook's|--set config.policies.tenancy_guard.params.tenantLabel.key=other"
  "secure metrics without the cluster|--set server.clusterLookups=false"
  "unknown dashboard value|--set dashboard.folder=x"
  "client CA from both a Secret and a ConfigMap|--set webhook.clientAuth.caSecret=a --set webhook.clientAuth.caConfigMap=b"
  "client names without a client CA|--set webhook.clientAuth.names={kube-apiserver}"
  "client CA key with a path|--set webhook.clientAuth.caConfigMap=a --set webhook.clientAuth.caKey=../ca.crt"
)
for b in "${BAD[@]}"; do
  name=${b%%|*}; args=${b#*|}
  # shellcheck disable=SC2086
  if "$HELM" template dg "$CHART" -n "$NS" --kube-version "$KUBE_VERSION" $args >/dev/null 2>"$TMP/err.txt"; then
    fail "rendering succeeded for a bad value set ($name: $args)"
  fi
  grep -q '^Error: ' "$TMP/err.txt" || { cat "$TMP/err.txt"; fail "no helm error for $name"; }
  why=$(grep -m1 -E "^- at |execution error" "$TMP/err.txt" | sed 's/^- //' | cut -c1-110)
  echo "ok   rejected: $name: $why"
done

if [[ "${SKIP_GO_TEST:-0}" != 1 ]]; then
  step "go test ./test/chart/...${KUBEBUILDER_ASSETS:+ (with the kube-apiserver in $KUBEBUILDER_ASSETS)}"
  go test -count=1 ./test/chart/...
fi

step "chart OK"
