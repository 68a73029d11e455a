#!/usr/bin/env bash
# Shows how a pull request changes one stack's template, offline:
# `cdk diff --template` compares the pull request's cloud assembly with a base
# template, so review needs no AWS credentials. The base is either a cloud
# assembly synthesized from main (a directory) or a template file (the deployed
# template that scripts/deployed-template.sh fetched).
#
# Usage: scripts/template-diff.sh <pr-cdk.out> <main-cdk.out | template.json> <stack-name>
# Run it from a directory where `npm ci` installed the pinned CLI
# (node_modules/.bin/cdk): it never lets npx fetch a package. The diff goes to
# stdout; exit status is non-zero only when the pull request's assembly is
# unusable or the CLI is missing.
set -euo pipefail

usage="usage: template-diff.sh <pr-cdk.out> <main-cdk.out | template.json> <stack-name>"
pr_dir=${1:?${usage}}
base=${2:?${usage}}
stack=${3:?${usage}}
here=$(dirname "${BASH_SOURCE[0]}")
cdk=./node_modules/.bin/cdk

if ! pr_template=$("${here}/stack-artifact.sh" "${pr_dir}" "${stack}" template); then
  echo "::error title=template diff::the pull request's assembly ${pr_dir} holds no stack named ${stack}"
  exit 1
fi
selector=$("${here}/stack-artifact.sh" "${pr_dir}" "${stack}" selector)

if [[ -f "${base}" ]]; then
  base_template=${base}
elif rel=$("${here}/stack-artifact.sh" "${base}" "${stack}" template 2>/dev/null) && [[ -f "${base}/${rel}" ]]; then
  base_template=${base}/${rel}
else
  echo "main has no synthesized template for ${stack} (a new stack, or main does not synthesize); the whole template is new:"
  echo
  jq -r '.Resources // {} | to_entries[] | "[+] \(.value.Type) \(.key)"' "${pr_dir}/${pr_template}"
  exit 0
fi

[[ -x "${cdk}" ]] || {
  echo "::error title=template diff::${cdk} is missing; run npm ci --ignore-scripts first"
  exit 1
}
"${cdk}" diff --app "${pr_dir}" --template "${base_template}" --no-color "${selector}" 2>&1
