#!/usr/bin/env bash
# Installs promtool and prometheus (Debian's `prometheus` package) when they
# are not already on PATH. Idempotent: a second run only prints versions.
#
# The package's maintainer scripts try to start a prometheus service via
# invoke-rc.d/systemd. Nothing may be left running and there is no systemd
# here, so a policy-rc.d that denies every start is in place for the
# install and the previous policy (if any) is restored afterwards.
#
#   hack/install-prometheus.sh
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

print_versions() {
  promtool --version 2>&1 | head -n 1
  prometheus --version 2>&1 | head -n 1
}

if have promtool && have prometheus; then
  print_versions
  exit 0
fi

SUDO=()
if [[ "$(id -u)" != 0 ]]; then
  if have sudo; then
    SUDO=(sudo)
  else
    echo "install-prometheus: need root (or sudo) to apt-get install prometheus" >&2
    exit 1
  fi
fi
if ! have apt-get; then
  echo "install-prometheus: apt-get not found; install promtool and prometheus (>= 2.42) by hand" >&2
  exit 1
fi

policy=/usr/sbin/policy-rc.d
backup=""
restore_policy() {
  if [[ -n "$backup" ]]; then
    "${SUDO[@]}" mv -f "$backup" "$policy"
  else
    "${SUDO[@]}" rm -f "$policy"
  fi
}
if [[ -e "$policy" ]]; then
  backup="$("${SUDO[@]}" mktemp /usr/sbin/policy-rc.d.driftguard-backup.XXXXXX)"
  "${SUDO[@]}" cp -p "$policy" "$backup"
fi
trap restore_policy EXIT
# 101: action forbidden by policy — invoke-rc.d then skips the start.
printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
"${SUDO[@]}" chmod 0755 "$policy"

# Prometheus processes that exist before the install are not ours to touch.
before="$(pgrep -x prometheus || true)"

export DEBIAN_FRONTEND=noninteractive
# A machine that has just booted may still be running its own apt-get:
# wait for its lock (up to 10 minutes) instead of failing at once.
lock=(-o DPkg::Lock::Timeout=600)
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${lock[@]}" update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${lock[@]}" install -y -qq --no-install-recommends prometheus

restore_policy
trap - EXIT

# Belt and braces: if the package managed to start a server anyway, stop
# exactly the processes that appeared during the install.
for pid in $(pgrep -x prometheus || true); do
  if ! grep -qw "$pid" <<<"$before"; then
    echo "install-prometheus: stopping prometheus pid $pid started by the package" >&2
    "${SUDO[@]}" kill "$pid" || true
  fi
done

if ! have promtool || ! have prometheus; then
  echo "install-prometheus: prometheus package installed but promtool/prometheus not on PATH" >&2
  exit 1
fi
print_versions
