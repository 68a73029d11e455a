#!/bin/bash
# Downloads the GitHub Actions runner an instance should run, verifies its
# SHA-256 and unpacks it into the directory given as the only argument.
#
# Which release: a pin from the config (RUNNER_PIN_VERSION and RUNNER_PIN_SHA256)
# wins; otherwise the release the fleet controller published to the SSM
# parameter RUNNER_RELEASE_PARAMETER ({"version","url","sha256","publishedAt"});
# otherwise (no parameter yet on a new stack, unreadable, malformed, or older
# than the floor) the floor RUNNER_FLOOR_VERSION with RUNNER_FLOOR_SHA256.
#
# A checksum mismatch prints one line starting with "runner-checksum-mismatch"
# and exits 4; a failed download prints "runner-download-failed" and exits 3.
# The boot log is shipped to CloudWatch, where a metric filter turns those
# lines into the RunnerDownloadRejected metric and its alarm. The runner never
# starts from an unverified file.
set -euo pipefail

: "${RUNNER_RELEASE_PARAMETER:?}" "${RUNNER_FLOOR_VERSION:?}" "${RUNNER_FLOOR_SHA256:?}"
RUNNER_PIN_VERSION=${RUNNER_PIN_VERSION:-}
RUNNER_PIN_SHA256=${RUNNER_PIN_SHA256:-}
DEST=${1:?usage: fetch-runner.sh <directory>}

log() { printf '%s fetch-runner: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }

version_re='^[0-9]+\.[0-9]+\.[0-9]+$'
sha_re='^[0-9a-f]{64}$'

# The only place a runner tarball may come from: the release's own asset.
release_url() {
  printf 'https://github.com/actions/runner/releases/download/v%s/actions-runner-linux-arm64-%s.tar.gz' "$1" "$1"
}

# json_field NAME JSON prints the string value of a top-level field. The
# controller writes the parameter with encoding/json, and every value is then
# checked against a strict pattern, so a simple match is enough here.
json_field() {
  local re="\"$1\"[[:space:]]*:[[:space:]]*\"([^\"]*)\""
  if [[ "$2" =~ ${re} ]]; then
    printf '%s' "${BASH_REMATCH[1]}"
  fi
}

# at_least A B succeeds when version A >= version B.
at_least() {
  [[ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" == "$2" ]]
}

choose_release() {
  VERSION=${RUNNER_FLOOR_VERSION}
  SHA256=${RUNNER_FLOOR_SHA256}
  SOURCE=floor
  if [[ -n "${RUNNER_PIN_VERSION}" ]]; then
    VERSION=${RUNNER_PIN_VERSION}
    SHA256=${RUNNER_PIN_SHA256}
    SOURCE=pin
    return 0
  fi
  local value
  if ! value=$(aws ssm get-parameter --name "${RUNNER_RELEASE_PARAMETER}" \
    --query Parameter.Value --output text 2>/dev/null); then
    log "cannot read ${RUNNER_RELEASE_PARAMETER} (not published yet, or unreachable); using the floor ${RUNNER_FLOOR_VERSION}"
    return 0
  fi
  local version sha url
  version=$(json_field version "${value}")
  sha=$(json_field sha256 "${value}")
  url=$(json_field url "${value}")
  if ! [[ "${version}" =~ ${version_re} && "${sha}" =~ ${sha_re} ]] || [[ "${url}" != "$(release_url "${version}")" ]]; then
    log "${RUNNER_RELEASE_PARAMETER} is malformed or names another download; using the floor ${RUNNER_FLOOR_VERSION}"
    return 0
  fi
  if ! at_least "${version}" "${RUNNER_FLOOR_VERSION}"; then
    log "published ${version} is older than the floor; using the floor ${RUNNER_FLOOR_VERSION}"
    return 0
  fi
  VERSION=${version}
  SHA256=${sha}
  SOURCE=published
}

main() {
  choose_release
  if ! [[ "${VERSION}" =~ ${version_re} && "${SHA256}" =~ ${sha_re} ]]; then
    log "runner-download-failed version=${VERSION} source=${SOURCE}: not a release and SHA-256"
    exit 3
  fi
  ARCHIVE=$(mktemp)
  trap 'rm -f "${ARCHIVE}"' EXIT
  local archive=${ARCHIVE}
  log "downloading runner ${VERSION} (${SOURCE})"
  if ! curl -fsSL --retry 5 --proto '=https' -o "${archive}" "$(release_url "${VERSION}")"; then
    log "runner-download-failed version=${VERSION} source=${SOURCE}"
    exit 3
  fi
  local got
  got=$(sha256sum "${archive}" | cut -d' ' -f1)
  if [[ "${got}" != "${SHA256}" ]]; then
    log "runner-checksum-mismatch version=${VERSION} source=${SOURCE} expected=${SHA256} got=${got}; refusing to start"
    exit 4
  fi
  mkdir -p "${DEST}"
  tar -xzf "${archive}" -C "${DEST}"
  log "runner ${VERSION} verified (sha256 ${SHA256}) and unpacked"
}

main
