#!/bin/bash
# Job-started hook of an ephemeral runner (ACTIONS_RUNNER_HOOK_JOB_STARTED):
# the job's steps run only if the fleet controller admitted the job.
#
# The runner runs this file with `bash -e` as the runner user, before the first
# step. It waits (bounded) for the verdict the controller writes for this
# instance to an SSM parameter that only this instance can read and only the
# controller can write, prints it, and fails the job on a deny, on a timeout
# and on anything it cannot parse. The script and its settings are root-owned
# (installed by the boot script), and nothing is taken from the environment the
# runner passes in: the settings come from admission.env next to this file, and
# the AWS CLI runs with a cleared environment on the instance role.
set -euo pipefail

fail() {
  printf '::error title=Job refused by admission::%s\n' "$1"
  printf 'admission: refused: %s\n' "$1"
  exit 1
}

here=.
[[ "${BASH_SOURCE[0]}" == */* ]] && here=${BASH_SOURCE[0]%/*}
conf="${here}/admission.env"
[[ -f "${conf}" ]] || fail "settings ${conf} are missing; the instance was not prepared by the boot script"

# Strict KEY=VALUE parsing: the file is read, never sourced.
VERDICT_PARAMETER="" AWS_REGION_NAME="" WAIT_SECONDS="" POLL_SECONDS="2" AWS_CLI="/usr/bin/aws"
while IFS='=' read -r key value; do
  case "${key}" in
    VERDICT_PARAMETER) VERDICT_PARAMETER=${value} ;;
    AWS_REGION) AWS_REGION_NAME=${value} ;;
    WAIT_SECONDS) WAIT_SECONDS=${value} ;;
    POLL_SECONDS) POLL_SECONDS=${value} ;;
    AWS_CLI) AWS_CLI=${value} ;;
    '' | '#'*) ;;
    *) fail "unknown setting ${key} in ${conf}" ;;
  esac
done <"${conf}"
[[ "${VERDICT_PARAMETER}" =~ ^/[A-Za-z0-9/_.-]+$ ]] || fail "VERDICT_PARAMETER is not an SSM parameter name"
[[ "${AWS_REGION_NAME}" =~ ^[a-z0-9-]+$ ]] || fail "AWS_REGION is not a region"
[[ "${WAIT_SECONDS}" =~ ^[0-9]+$ ]] || fail "WAIT_SECONDS is not a number of seconds"
[[ "${POLL_SECONDS}" =~ ^[0-9]+(\.[0-9]+)?$ ]] || fail "POLL_SECONDS is not a number of seconds"

# One read of the verdict, on the instance role only: no variable of the job's
# environment (AWS_ENDPOINT_URL, AWS_PROFILE, credentials, PATH) reaches it.
read_verdict() {
  /usr/bin/env -i PATH=/usr/bin:/bin HOME=/nonexistent \
    AWS_REGION="${AWS_REGION_NAME}" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
    /usr/bin/timeout 15 "${AWS_CLI}" ssm get-parameter --name "${VERDICT_PARAMETER}" --with-decryption \
    --query Parameter.Value --output text 2>"${errors}"
}

errors=$(mktemp)
trap 'rm -f "${errors}"' EXIT
printf 'admission: waiting up to %ss for the verdict on this job\n' "${WAIT_SECONDS}"
# EPOCHREALTIME in microseconds: SECONDS counts whole seconds from an
# arbitrary fraction and would cut the wait short by up to one second.
now_us() { local t=${EPOCHREALTIME/[.,]/}; printf '%s' "$((10#${t}))"; }
deadline=$(($(now_us) + WAIT_SECONDS * 1000000))
last_error=""
while :; do
  if value=$(read_verdict) && [[ -n "${value}" ]]; then
    break
  fi
  # ParameterNotFound is the normal "not yet"; anything else is kept for the
  # timeout message (first line only, printable characters only).
  last_error=$(head -c 300 "${errors}" | head -n 1 | tr -cd '[:print:]' | tr ':' ' ')
  if (($(now_us) >= deadline)); then
    fail "no verdict after ${WAIT_SECONDS}s (rule run.lookup; last error: ${last_error:-none}); the controller removes this instance"
  fi
  sleep "${POLL_SECONDS}"
done

verdict="" rule="" reason="" lines=0
while IFS= read -r line; do
  lines=$((lines + 1))
  case "${line}" in
    verdict=allow | verdict=deny) [[ ${lines} -eq 1 ]] && verdict=${line#verdict=} ;;
    rule=*) rule=${line#rule=} ;;
    reason=*) reason=${line#reason=} ;;
    *) verdict="" && break ;;
  esac
done <<<"${value}"
# The controller writes printable ASCII without ':'; enforce it before printing.
rule=$(printf '%s' "${rule}" | tr -cd '[:print:]' | tr ':' ' ')
reason=$(printf '%s' "${reason}" | tr -cd '[:print:]' | tr ':' ' ')

case "${verdict}" in
  allow)
    printf 'admission: admitted (%s): %s\n' "${rule}" "${reason}"
    ;;
  deny)
    fail "rule ${rule}: ${reason}"
    ;;
  *)
    fail "malformed verdict (${#value} bytes) in ${VERDICT_PARAMETER}"
    ;;
esac
