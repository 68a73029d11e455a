#!/usr/bin/env bash
# Picks the read-only diff role for one environment from the DIFF_ROLE_TO_ASSUME
# repository variable and prints `arn=<role>` (empty when none) on $GITHUB_OUTPUT.
#
# The dev and prod stacks live in different accounts, so the variable holds a JSON
# object keyed by environment, the value of each stack's DiffRoleArn output:
#   {"dev": "arn:aws:iam::<dev>:role/...", "prod": "arn:aws:iam::<prod>:role/..."}
# A plain ARN is accepted too and used for the environment whose account it is in.
# A role from another account than environments/<env>.json names is refused, so a
# prod diff can never run with dev credentials or the reverse.
#
# Usage: DIFF_ROLE_TO_ASSUME=... scripts/resolve-diff-role.sh <environment>
set -euo pipefail

env_name=${1:?usage: resolve-diff-role.sh <environment>}
dir=${ENVIRONMENTS_DIR:-environments}
raw=${DIFF_ROLE_TO_ASSUME:-}

fail() {
  echo "::error title=diff role::$*"
  exit 1
}
emit() {
  if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
    echo "arn=$1" >>"${GITHUB_OUTPUT}"
  fi
  echo "arn=$1"
}

account=$(jq -er '.account | strings' "${dir}/${env_name}.json") ||
  fail "cannot read the account of ${env_name} from ${dir}/${env_name}.json"

trimmed=${raw#"${raw%%[![:space:]]*}"}
case "${trimmed}" in
  "")
    echo "DIFF_ROLE_TO_ASSUME is not set: showing the template diff against main only"
    emit ""
    exit 0
    ;;
  "{"*)
    jq -e 'type == "object"' >/dev/null 2>&1 <<<"${trimmed}" ||
      fail "DIFF_ROLE_TO_ASSUME starts with { but is not a JSON object"
    arn=$(jq -r --arg e "${env_name}" '.[$e] // "" | strings' <<<"${trimmed}")
    if [[ -z "${arn}" ]]; then
      echo "DIFF_ROLE_TO_ASSUME has no role for ${env_name}: showing the template diff against main only"
      emit ""
      exit 0
    fi
    ;;
  *)
    arn=${trimmed%%[[:space:]]*}
    if [[ "${arn}" =~ ^arn:aws:iam::([0-9]{12}): && "${BASH_REMATCH[1]}" != "${account}" ]]; then
      echo "DIFF_ROLE_TO_ASSUME is a role in another account than ${env_name} (${account}): showing the template diff only"
      emit ""
      exit 0
    fi
    ;;
esac

[[ "${arn}" =~ ^arn:aws:iam::([0-9]{12}):role/[A-Za-z0-9+=,.@_/-]+$ ]] ||
  fail "the diff role for ${env_name} ('${arn}') is not an IAM role ARN"
[[ "${BASH_REMATCH[1]}" == "${account}" ]] ||
  fail "the diff role for ${env_name} is in account ${BASH_REMATCH[1]}, but ${env_name} is account ${account}"
emit "${arn}"
