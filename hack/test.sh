#!/usr/bin/env bash
# The one test command (README, .ci/run): unit tests, Rego unit tests,
# benchmarks compile-checked, and the end-to-end suite against a real
# kube-apiserver + etcd built from the Go module proxy (cached after the
# first run, ~5 minutes cold) and the real kubectl.
#
#   hack/test.sh            everything
#   SKIP_E2E=1 hack/test.sh unit tests only
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

# run_test PKG TEST: go test -run '^TEST$' that fails unless TEST ran and
# passed (go test passes with "no tests to run" when a test is renamed or
# skips itself).
run_test() {
  local out rc=0
  out="$(go test -count=1 -v -run "^$2\$" "$1" 2>&1)" || rc=$?
  grep -v -e '^=== ' <<<"$out" | grep -v -e '^    --- PASS' || true
  if [[ $rc -ne 0 ]]; then
    return "$rc"
  fi
  if ! grep -q -e "^--- PASS: $2 " <<<"$out"; then
    printf '%s in %s did not run and pass (renamed? skipped?)\n' "$2" "$1" >&2
    return 1
  fi
}

step "tools the tests need (Debian's prometheus for promtool and the e2e alerts)"
hack/install-prometheus.sh

step "Helm chart: lint, template for several value sets, schema rejections (builds Helm as a Go tool)"
SKIP_GO_TEST=1 hack/chart-check.sh

step "go vet"
go vet ./...
go vet -tags e2e ./test/...

step "unit tests (race detector on)"
go test -race -count=1 -timeout 30m ./...

step "policy tests: Rego unit tests and fixture suites (driftguard test)"
go run ./cmd/webhook test policies

step "benchmarks compile and run once"
go test -run '^$' -bench . -benchtime 1x ./internal/... >/dev/null

if [[ "${SKIP_E2E:-0}" != 1 ]]; then
  step "end-to-end: control-plane binaries"
  KUBEBUILDER_ASSETS="$(hack/e2e-assets.sh | tail -n 1)"
  export KUBEBUILDER_ASSETS
  step "end-to-end suite (assets in ${KUBEBUILDER_ASSETS})"
  run_test ./test/chart/ TestAPIServer
  run_test ./test/chart/ TestReadmeValidatingAdmissionPolicy
  # a real API server without the OpenReports CRDs: reports and the revert
  # history say so, and serve --cluster still starts
  run_test ./internal/report/ TestWriterWithoutCRDs
  run_test ./internal/server/ TestRevertHistoryWithoutReportCRDs
  go test -tags e2e -count=1 -timeout 40m ./test/e2e/...
fi
