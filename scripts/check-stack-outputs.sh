#!/usr/bin/env bash
# Compares the outputs of a freshly deployed runner stack with the caller
# repository's variables and writes both to the job summary.
#
# The ops workflows read CONTEXT, ROLE_TO_ASSUME, SYNAPSE_HOST,
# SYNAPSE_DEPLOYMENT_ROLE and ADMIN_TOKEN_SECRET from repository variables, not
# from the stack. A deploy that changes one of them (a renamed role, say) leaves
# every caller stale until someone updates the variable, so this step fails
# loudly and names the value to set. The stack is already deployed when it runs.
#
# Usage: scripts/check-stack-outputs.sh <cdk-outputs.json> <stack-name>
# Reads the current values from the environment variables of the same names.
set -euo pipefail

outputs_file=${1:?usage: check-stack-outputs.sh <cdk-outputs.json> <stack-name>}
stack=${2:?usage: check-stack-outputs.sh <cdk-outputs.json> <stack-name>}
summary=${GITHUB_STEP_SUMMARY:-/dev/null}

fail() {
  echo "::error title=stack outputs::$*"
  exit 1
}

[[ -s "${outputs_file}" ]] || fail "${outputs_file} is missing or empty; did cdk deploy run with --outputs-file?"
jq -e --arg s "${stack}" '.[$s] | objects' "${outputs_file}" >/dev/null ||
  fail "${outputs_file} has no outputs for ${stack}"

# Repository variable -> stack output, as in config.RepositoryVariables.
variables=(CONTEXT ROLE_TO_ASSUME SYNAPSE_HOST SYNAPSE_DEPLOYMENT_ROLE ADMIN_TOKEN_SECRET)
declare -A output_of=(
  [CONTEXT]=Context
  [ROLE_TO_ASSUME]=RoleToAssume
  [SYNAPSE_HOST]=SynapseHost
  [SYNAPSE_DEPLOYMENT_ROLE]=SynapseDeploymentRole
  [ADMIN_TOKEN_SECRET]=AdminTokenSecretName
)
# What run-task.yml uses when a variable is unset; an unset variable whose
# default equals the stack output is not stale.
declare -A default_of=(
  [ADMIN_TOKEN_SECRET]=/synapse/admin-pat
)

stale=()
{
  echo "### ${stack}: stack outputs"
  echo
  echo "| repository variable | stack output | value in the stack | matches the variable |"
  echo "| --- | --- | --- | --- |"
} >>"${summary}"
for var in "${variables[@]}"; do
  key=${output_of[${var}]}
  want=$(jq -r --arg s "${stack}" --arg k "${key}" '.[$s][$k] // empty' "${outputs_file}")
  have=${!var:-${default_of[${var}]:-}}
  if [[ -z "${want}" ]]; then
    echo "::warning title=stack outputs::${stack} has no output ${key}; cannot check ${var}"
    mark="no output"
  elif [[ "${want}" == "${have}" ]]; then
    mark="yes"
  else
    mark="**no**"
    stale+=("${var}")
    echo "::error title=stack outputs::repository variable ${var} is '${have}' but the stack output ${key} is '${want}': set ${var} to '${want}' (or run the bootstrap, which sets it)"
  fi
  printf "| \`%s\` | \`%s\` | \`%s\` | %s |\n" "${var}" "${key}" "${want}" "${mark}" >>"${summary}"
done

# Scale set names, for the runs-on: lines of the callers.
jq -r --arg s "${stack}" '.[$s] | to_entries[] | select(.key | startswith("ScaleSet"))
  | "| runs-on | `\(.key)` | `\(.value)` | |"' "${outputs_file}" >>"${summary}"

if ((${#stale[@]} > 0)); then
  fail "the stack is deployed, but these repository variables are stale: ${stale[*]}"
fi
echo "stack outputs match the repository variables"
