#!/usr/bin/env bash
# Shows how a pull request changes one stack's synthesized template, offline:
# `cdk diff --template` compares the pull request's cloud assembly with the
# template synthesized from main, so review works with no AWS credentials.
#
# Usage: scripts/template-diff.sh <pr-cdk.out> <main-cdk.out> <stack-name>
# Run it where `npx cdk` resolves to the pinned CLI (after npm ci). The diff goes
# to stdout; exit status is non-zero only when the pull request's assembly is
# unusable.
set -euo pipefail

pr_dir=${1:?usage: template-diff.sh <pr-cdk.out> <main-cdk.out> <stack-name>}
base_dir=${2:?usage: template-diff.sh <pr-cdk.out> <main-cdk.out> <stack-name>}
stack=${3:?usage: template-diff.sh <pr-cdk.out> <main-cdk.out> <stack-name>}
here=$(dirname "${BASH_SOURCE[0]}")

if ! pr_template=$("${here}/stack-artifact.sh" "${pr_dir}" "${stack}" template); then
  echo "::error title=template diff::the pull request's assembly ${pr_dir} holds no stack named ${stack}"
  exit 1
fi
selector=$("${here}/stack-artifact.sh" "${pr_dir}" "${stack}" selector)

if ! base_template=$("${here}/stack-artifact.sh" "${base_dir}" "${stack}" template 2>/dev/null) ||
  [[ ! -f "${base_dir}/${base_template}" ]]; then
  echo "main has no synthesized template for ${stack} (a new stack, or main does not synthesize); the whole template is new:"
  echo
  jq -r '.Resources // {} | to_entries[] | "[+] \(.value.Type) \(.key)"' "${pr_dir}/${pr_template}"
  exit 0
fi

npx cdk diff --app "${pr_dir}" --template "${base_dir}/${base_template}" --no-color "${selector}" 2>&1
