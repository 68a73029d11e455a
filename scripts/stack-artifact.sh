#!/usr/bin/env bash
# Looks up a stack in a synthesized cloud assembly (cdk.out) by its
# CloudFormation stack name and prints one field of its artifact:
#   selector  the name `cdk diff` and `cdk deploy` select the stack by
#   template  the template file, relative to the assembly directory
# The stack name (synapse-ops-runners-<env>) can differ from the artifact id (the
# construct path) that names the template file, so neither is guessed.
#
# Usage: scripts/stack-artifact.sh <cdk.out> <stack-name> selector|template
set -euo pipefail

dir=${1:?usage: stack-artifact.sh <cdk.out> <stack-name> selector|template}
stack=${2:?usage: stack-artifact.sh <cdk.out> <stack-name> selector|template}
field=${3:?usage: stack-artifact.sh <cdk.out> <stack-name> selector|template}

case "${field}" in
  selector) expr='.value.displayName // .key' ;;
  template) expr='.value.properties.templateFile' ;;
  *)
    echo "stack-artifact.sh: unknown field '${field}'; use selector or template" >&2
    exit 2
    ;;
esac

[[ -f "${dir}/manifest.json" ]] || {
  echo "stack-artifact.sh: ${dir}/manifest.json does not exist" >&2
  exit 1
}
jq -er --arg s "${stack}" "[.artifacts // {} | to_entries[]
    | select(.value.type == \"aws:cloudformation:stack\")
    | select((.value.properties.stackName // .key) == \$s)][0]
    | ${expr} | strings" "${dir}/manifest.json" || {
  echo "stack-artifact.sh: ${dir} holds no stack named ${stack}" >&2
  exit 1
}
