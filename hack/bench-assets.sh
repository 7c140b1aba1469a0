#!/usr/bin/env bash
# Builds OPA Gatekeeper's manager, the third server test/bench can load
# (-targets floor,driftguard,gatekeeper), from the pinned Go module in
# tools/gatekeeper, using only the Go module proxy, and copies Gatekeeper's
# CRDs (ConstraintTemplate, Config, ...) from the same module next to it.
#
# Usage:
#   hack/bench-assets.sh [--force]
#   DRIFTGUARD_BENCH_GATEKEEPER=$(hack/bench-assets.sh | tail -n1) \
#   KUBEBUILDER_ASSETS=$(hack/e2e-assets.sh | tail -n1) \
#     go run ./test/bench -targets floor,driftguard,gatekeeper
#
# The binary is built once into a cache folder and reused while the pinned
# version (tools/gatekeeper/go.mod, go.sum) and this script are unchanged.
# The folder (gatekeeper binary, crds/) is printed as the LAST line of
# stdout; everything else goes to stderr.
#
# Environment:
#   DRIFTGUARD_BENCH_ASSETS_DIR  asset dir (default: $HOME/.cache/driftguard/bench/gatekeeper-<version>)
#   DRIFTGUARD_BENCH_ASSETS_FORCE=1 same as --force: rebuild even if up to date
set -euo pipefail

log() { printf 'bench-assets: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

force="${DRIFTGUARD_BENCH_ASSETS_FORCE:-0}"
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    *) die "unknown argument: $arg" ;;
  esac
done

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GK_DIR="${ROOT_DIR}/tools/gatekeeper"
SCRIPT="${ROOT_DIR}/hack/$(basename "${BASH_SOURCE[0]}")"
[[ -f "${GK_DIR}/go.mod" && -f "${GK_DIR}/go.sum" ]] || die "missing ${GK_DIR}/go.mod or go.sum"
command -v go >/dev/null 2>&1 || die "go not found in PATH"

GK_MODULE=github.com/open-policy-agent/gatekeeper/v3
GK_VERSION="$(awk -v m="${GK_MODULE}" '($1 == m || ($1 == "require" && $2 == m)) {for (i = 1; i <= NF; i++) if ($i ~ /^v[0-9]/) {print $i; exit}}' "${GK_DIR}/go.mod")"
[[ "${GK_VERSION}" =~ ^v3\.[0-9]+\.[0-9]+ ]] || die "cannot parse ${GK_MODULE} version from tools/gatekeeper/go.mod"

ASSETS_DIR="${DRIFTGUARD_BENCH_ASSETS_DIR:-${HOME}/.cache/driftguard/bench/gatekeeper-${GK_VERSION}}"
STAMP_FILE="${ASSETS_DIR}/.stamp"

export GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0

# Everything that influences the produced files goes into the stamp: the
# pinned module, this script and hack/lib/cache.sh, and the toolchain.
recipe="gatekeeper=${GK_VERSION} cgo=${CGO_ENABLED} go=$(go env GOVERSION) goos=$(go env GOOS) goarch=$(go env GOARCH)"
want_stamp="$( { cat "${GK_DIR}/go.mod" "${GK_DIR}/go.sum" "${SCRIPT}" "${ROOT_DIR}/hack/lib/cache.sh"; printf '%s\n' "${recipe}"; } | sha256sum | cut -d' ' -f1)"

up_to_date() {
  [[ -x "${ASSETS_DIR}/gatekeeper" && -d "${ASSETS_DIR}/crds" && -f "${STAMP_FILE}" ]] &&
    [[ "$(cat "${STAMP_FILE}")" == "${want_stamp}" ]]
}

# shellcheck source=lib/cache.sh
. "${ROOT_DIR}/hack/lib/cache.sh"
cache_hit_or_lock "Gatekeeper ${GK_VERSION} is up to date"

start=$SECONDS
log "building Gatekeeper ${GK_VERSION} into ${ASSETS_DIR} (a cold build takes several minutes)"
(
  cd "${GK_DIR}"
  go build -trimpath -ldflags "-s -w" -o "${tmp}/gatekeeper" "${GK_MODULE}"
) >&2

# The CRDs of the same module version, as its Helm chart ships them.
mod_dir="$(cd "${GK_DIR}" && go mod download -json "${GK_MODULE}@${GK_VERSION}" | sed -n 's/^[[:space:]]*"Dir": *"\([^"]*\)".*/\1/p' | head -n1)"
[[ -n "${mod_dir}" && -d "${mod_dir}/charts/gatekeeper/crds" ]] || die "no charts/gatekeeper/crds in ${GK_MODULE}@${GK_VERSION} (module dir: ${mod_dir:-unknown})"
mkdir -p "${tmp}/crds"
cp "${mod_dir}"/charts/gatekeeper/crds/*.yaml "${tmp}/crds/"
chmod -R u+w "${tmp}/crds"
log "$(ls "${tmp}/crds" | wc -l) CRDs from ${mod_dir}/charts/gatekeeper/crds"

"${tmp}/gatekeeper" --help >/dev/null 2>&1 || die "the built gatekeeper binary does not run"

rm -f "${STAMP_FILE}"
rm -rf "${ASSETS_DIR}/crds"
mv -f "${tmp}/gatekeeper" "${ASSETS_DIR}/gatekeeper"
mv -f "${tmp}/crds" "${ASSETS_DIR}/crds"
printf '%s\n' "${want_stamp}" > "${STAMP_FILE}"
log "done in $((SECONDS - start))s"

echo "${ASSETS_DIR}"
