#!/usr/bin/env bash
# Builds the control-plane binaries used by envtest-based e2e tests
# (kube-apiserver, etcd, kube-controller-manager) and External Secrets
# Operator from the pinned Go modules in tools/, using only
# the Go module proxy (no release tarballs / setup-envtest downloads).
#
# Usage:
#   hack/e2e-assets.sh [--force]
#   KUBEBUILDER_ASSETS=$(hack/e2e-assets.sh) go test -tags e2e ./test/e2e/...
#
# The binaries are built once into a cache folder and reused while the
# pinned versions (tools/go.mod, tools/go.sum) and this build recipe are
# unchanged. The asset directory is printed as the LAST line of stdout;
# everything else goes to stderr.
#
# Environment:
#   DRIFTGUARD_ASSETS_DIR     asset dir (default: $HOME/.cache/driftguard/assets/k8s-<version>-r<recipe>)
#   DRIFTGUARD_K8S_GIT_COMMIT commit stamped into kube-apiserver --version
#                             (default: 40 zeros; the module proxy has no commit id)
#   DRIFTGUARD_ASSETS_FORCE=1 same as --force: rebuild even if up to date
set -euo pipefail

log() { printf 'e2e-assets: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

force="${DRIFTGUARD_ASSETS_FORCE:-0}"
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    *) die "unknown argument: $arg" ;;
  esac
done

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="${ROOT_DIR}/tools"
[[ -f "${TOOLS_DIR}/go.mod" && -f "${TOOLS_DIR}/go.sum" ]] || die "missing ${TOOLS_DIR}/go.mod or go.sum"
command -v go >/dev/null 2>&1 || die "go not found in PATH"

# Versions come from the pinned tools module so there is a single source of truth.
K8S_VERSION="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "${TOOLS_DIR}/go.mod")"
ETCD_VERSION="$(awk '$1 == "go.etcd.io/etcd/server/v3" && $2 ~ /^v/ {print $2; exit}' "${TOOLS_DIR}/go.mod")"
[[ "${K8S_VERSION}" =~ ^v([0-9]+)\.([0-9]+)\.[0-9]+ ]] || die "cannot parse k8s.io/kubernetes version from tools/go.mod"
K8S_MAJOR="${BASH_REMATCH[1]}"
K8S_MINOR="${BASH_REMATCH[2]}"
[[ -n "${ETCD_VERSION}" ]] || die "cannot parse go.etcd.io/etcd/server/v3 version from tools/go.mod"

# The recipe number is in the folder name, so checkouts with another
# recipe (other binaries) keep their own cache instead of rebuilding in turn.
RECIPE=4
ASSETS_DIR="${DRIFTGUARD_ASSETS_DIR:-${HOME}/.cache/driftguard/assets/k8s-${K8S_VERSION}-r${RECIPE}}"
STAMP_FILE="${ASSETS_DIR}/.stamp"

export GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0

# Build date = the tag time of k8s.io/kubernetes as recorded by the module
# proxy, so rebuilds are reproducible. Resolved lazily (only when building).
build_date() {
  local info
  info="$(cd "${TOOLS_DIR}" && go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" 2>/dev/null)" || true
  local t
  t="$(printf '%s\n' "${info}" | sed -n 's/.*"Info": *"\([^"]*\)".*/\1/p' | head -n1)"
  if [[ -n "$t" && -f "$t" ]]; then
    sed -n 's/.*"Time":"\([0-9T:-]*\)[.0-9]*Z".*/\1Z/p' "$t" | head -n1
  else
    echo "1970-01-01T00:00:00Z"
  fi
}

GIT_COMMIT="${DRIFTGUARD_K8S_GIT_COMMIT:-0000000000000000000000000000000000000000}"

# Everything that influences the produced binaries goes into the stamp.
recipe="recipe=${RECIPE} k8s=${K8S_VERSION} etcd=${ETCD_VERSION} commit=${GIT_COMMIT} cgo=${CGO_ENABLED} go=$(go env GOVERSION) goos=$(go env GOOS) goarch=$(go env GOARCH)"
want_stamp="$( { cat "${TOOLS_DIR}/go.mod" "${TOOLS_DIR}/go.sum" "${TOOLS_DIR}/eso/go.mod" "${TOOLS_DIR}/eso/go.sum"; printf '%s\n' "${recipe}"; } | sha256sum | cut -d' ' -f1)"

up_to_date() {
  [[ -x "${ASSETS_DIR}/kube-apiserver" && -x "${ASSETS_DIR}/etcd" && -x "${ASSETS_DIR}/kube-controller-manager" && -x "${ASSETS_DIR}/external-secrets" && -f "${STAMP_FILE}" ]] &&
    [[ "$(cat "${STAMP_FILE}")" == "${want_stamp}" ]]
}

# shellcheck source=lib/cache.sh
. "${ROOT_DIR}/hack/lib/cache.sh"
cache_hit_or_lock "kube-apiserver and kube-controller-manager ${K8S_VERSION} and etcd ${ETCD_VERSION} are up to date"

BUILD_DATE="$(build_date)"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X ${pkg}.gitVersion=${K8S_VERSION}"
  ldflags+=" -X ${pkg}.gitMajor=${K8S_MAJOR}"
  ldflags+=" -X ${pkg}.gitMinor=${K8S_MINOR}"
  ldflags+=" -X ${pkg}.gitCommit=${GIT_COMMIT}"
  ldflags+=" -X ${pkg}.gitTreeState=clean"
  ldflags+=" -X ${pkg}.buildDate=${BUILD_DATE}"
done

start=$SECONDS
log "building kube-apiserver and kube-controller-manager ${K8S_VERSION} and etcd ${ETCD_VERSION} into ${ASSETS_DIR} (cold builds take several minutes)"
(
  cd "${TOOLS_DIR}"
  go build -trimpath -ldflags "${ldflags}" -o "${tmp}/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
  go build -trimpath -ldflags "${ldflags}" -o "${tmp}/kube-controller-manager" k8s.io/kubernetes/cmd/kube-controller-manager
  go build -trimpath -ldflags "-s -w" -o "${tmp}/etcd" go.etcd.io/etcd/server/v3
) >&2
# External Secrets Operator, from its own pinned module (tools/eso)
(
  cd "${TOOLS_DIR}/eso"
  go build -trimpath -ldflags "-s -w" -o "${tmp}/external-secrets" github.com/external-secrets/external-secrets
) >&2

"${tmp}/kube-apiserver" --version >&2
"${tmp}/etcd" --version >&2
"${tmp}/kube-controller-manager" --version >&2

rm -f "${STAMP_FILE}"
mv -f "${tmp}/kube-apiserver" "${ASSETS_DIR}/kube-apiserver"
mv -f "${tmp}/etcd" "${ASSETS_DIR}/etcd"
mv -f "${tmp}/kube-controller-manager" "${ASSETS_DIR}/kube-controller-manager"
mv -f "${tmp}/external-secrets" "${ASSETS_DIR}/external-secrets"
printf '%s\n' "${want_stamp}" > "${STAMP_FILE}"
log "done in $((SECONDS - start))s"

echo "${ASSETS_DIR}"
