#!/usr/bin/env bash
# Prints the AWS account and region an environment deploys to, read from the
# committed environments/<env>.json, as `account=` and `region=` lines on
# $GITHUB_OUTPUT (or stdout outside Actions).
#
# Workflows pass the account to configure-aws-credentials as allowed-account-ids,
# so credentials for the wrong account are refused before cdk runs.
#
# Usage: scripts/read-target.sh <environment>
set -euo pipefail

env_name=${1:?usage: read-target.sh <environment>}
dir=${ENVIRONMENTS_DIR:-environments}
file="${dir}/${env_name}.json"

# Annotations go to stdout, where the runner reads workflow commands.
fail() {
  echo "::error title=read-target::$*"
  exit 1
}

[[ "${env_name}" =~ ^[a-z][a-z0-9-]*$ ]] || fail "'${env_name}' is not an environment name"
if [[ ! -f "${file}" ]]; then
  known=()
  for f in "${dir}"/*.json; do
    [[ -e "${f}" ]] && known+=("$(basename "${f}" .json)")
  done
  fail "${file} does not exist; configured environments: ${known[*]:-none}"
fi

account=$(jq -er '.account | strings' "${file}") || fail "${file} has no account"
region=$(jq -er '.region // "us-east-1" | strings' "${file}") || fail "${file}: region is not a string"
[[ "${account}" =~ ^[0-9]{12}$ ]] || fail "${file}: account '${account}' is not a 12-digit AWS account id"
[[ "${region}" =~ ^[a-z]{2}(-[a-z]+)+-[0-9]$ ]] || fail "${file}: region '${region}' is not an AWS region"

if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
  printf 'account=%s\nregion=%s\n' "${account}" "${region}" >>"${GITHUB_OUTPUT}"
fi
printf 'account=%s\nregion=%s\n' "${account}" "${region}"
