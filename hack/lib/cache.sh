# Shared by hack/e2e-assets.sh and hack/bench-assets.sh (sourced, not run):
# the cache check, the lock against a concurrent build and the build folder.
# The caller sets force and ASSETS_DIR and defines log and up_to_date.

# cache_hit_or_lock WHAT: when up_to_date (and not forced), logs "WHAT in
# ASSETS_DIR", prints ASSETS_DIR and exits 0. Otherwise it takes
# ASSETS_DIR/.lock (waiting for a concurrent build of the same folder),
# checks once more, and sets tmp to a new build folder inside ASSETS_DIR
# that is removed when the script exits.
cache_hit_or_lock() {
  if [[ "${force}" != "1" ]] && up_to_date; then
    log "$1 in ${ASSETS_DIR}"
    echo "${ASSETS_DIR}"
    exit 0
  fi
  mkdir -p "${ASSETS_DIR}"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"${ASSETS_DIR}/.lock"
    flock 9
    if [[ "${force}" != "1" ]] && up_to_date; then
      log "built by a concurrent run: ${ASSETS_DIR}"
      echo "${ASSETS_DIR}"
      exit 0
    fi
  fi
  tmp="$(mktemp -d "${ASSETS_DIR}/.build.XXXXXX")"
  trap 'rm -rf "${tmp}"' EXIT
}
