#!/usr/bin/env bash
# Copies the OpenReports CRDs (Report, ClusterReport) of the
# github.com/openreports/reports-api version pinned in go.mod into the
# Helm chart (charts/driftguard/files/crds), which installs them and
# which the e2e suite's API server loads. test/chart checks the copy.
#
#   hack/update-report-crds.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir="$(go list -m -f '{{.Dir}}' github.com/openreports/reports-api)"
[[ -d "$dir/config/crd" ]] || { echo "update-report-crds: no config/crd in $dir" >&2; exit 1; }
out=charts/driftguard/files/crds
mkdir -p "$out"
rm -f "$out"/openreports.io_*.yaml
for f in openreports.io_reports.yaml openreports.io_clusterreports.yaml; do
  install -m 0644 "$dir/config/crd/$f" "$out/$f"
done
echo "copied $(go list -m -f '{{.Path}} {{.Version}}' github.com/openreports/reports-api) CRDs to $out"
