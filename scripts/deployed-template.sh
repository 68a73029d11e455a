#!/usr/bin/env bash
# Writes the deployed template of one stack to a file, as JSON, with the
# credentials in the environment (the diff role: cloudformation:GetTemplate on
# this stack is all it may do). A stack that does not exist yet gets an empty
# template, so the diff shows every resource as new.
#
# Usage: scripts/deployed-template.sh <stack-name> <out.json>
set -euo pipefail

stack=${1:?usage: deployed-template.sh <stack-name> <out.json>}
out=${2:?usage: deployed-template.sh <stack-name> <out.json>}

fail() {
  echo "::error title=deployed template::$*"
  exit 1
}

[[ "${stack}" =~ ^[A-Za-z][A-Za-z0-9-]{0,127}$ ]] || fail "'${stack}' is not a CloudFormation stack name"

errors=$(mktemp)
trap 'rm -f -- "${errors}"' EXIT
if ! body=$(aws cloudformation get-template --stack-name "${stack}" --template-stage Original \
  --query TemplateBody --output json 2>"${errors}"); then
  if grep -q "does not exist" "${errors}"; then
    echo "${stack} is not deployed yet: every resource shows as new"
    echo '{}' >"${out}"
    exit 0
  fi
  cat "${errors}" >&2
  fail "cannot read the deployed template of ${stack}; check that DIFF_ROLE_TO_ASSUME names this stack's DiffRoleArn output"
fi

# The CLI returns a JSON template as an object; a string would be YAML, which
# CDK never deploys.
jq -e 'if type == "string" then fromjson else . end | objects' <<<"${body}" >"${out}" 2>/dev/null ||
  fail "the deployed template of ${stack} is not a JSON object"
echo "read the deployed template of ${stack}"
