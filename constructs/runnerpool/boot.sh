#!/bin/bash
# Boot script of an ephemeral GitHub Actions runner instance.
#
# systemd runs it at every boot with the pool's settings from an environment file
# that the user data writes (no secret among them). It installs the runner
# release the fleet controller published once (fetch-runner.sh verifies it),
# waits for the single-use JIT config the fleet controller writes to SSM for
# this instance, deletes it, runs exactly one job, then removes the instance from
# its Auto Scaling group. In a warm pool it only prepares the instance.
set -euo pipefail

: "${AWS_REGION:?}" "${FLEET_ENV:?}" "${POOL_NAME:?}" "${ASG_NAME:?}" "${JIT_PARAMETER_PREFIX:?}"
: "${LOG_GROUP:?}" "${PACKAGES:?}" "${JIT_WAIT_SECONDS:?}"
: "${DEPLOYMENT_ROLE_ARN:?}" "${JOB_STARTED_TAG:?}" "${WARM_READY_TAG:?}"

RUNNER_USER=runner
RUNNER_HOME=/home/${RUNNER_USER}
RUNNER_DIR=${RUNNER_HOME}/actions-runner
STATE_DIR=/opt/synapse-ops-runners
BOOT_LOG=/var/log/synapse-ops-runners-boot.log
AGENT_CTL=/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl
export AWS_DEFAULT_REGION=${AWS_REGION}

mkdir -p "${STATE_DIR}"
exec > >(tee -a "${BOOT_LOG}") 2>&1

log() { printf '%s boot: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }

imds() {
  local token
  token=$(curl -sS -X PUT http://169.254.169.254/latest/api/token \
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
  curl -sS -H "X-aws-ec2-metadata-token: ${token}" "http://169.254.169.254/latest/meta-data/$1"
}

INSTANCE_ID=$(imds instance-id)
readonly INSTANCE_ID
INSTALLED_MARKER=${STATE_DIR}/installed

# Leave the group whatever happens: the runner is single-use. Decrementing the
# desired capacity keeps the group from starting a replacement nobody asked for;
# the controller raises it again when GitHub assigns more jobs.
leave_group() {
  local status=$?
  log "runner finished with status ${status}; shipping logs and leaving ${ASG_NAME}"
  # A failure before the runner starts (a checksum mismatch, a missing JIT
  # config) still ships the boot log, once the agent is installed.
  if [[ -z "${LOGS_SHIPPED:-}" && -x "${AGENT_CTL}" ]]; then
    ship_logs || true
  fi
  if systemctl is-active --quiet amazon-cloudwatch-agent; then
    # Stopping the agent flushes what it has buffered.
    systemctl stop amazon-cloudwatch-agent || true
  fi
  aws autoscaling terminate-instance-in-auto-scaling-group \
    --instance-id "${INSTANCE_ID}" --should-decrement-desired-capacity || true
  # Shutdown behaviour is terminate, so this is the fallback if the call failed.
  shutdown -h +1 || true
}
trap leave_group EXIT

install_packages() {
  # The runner's .NET dependencies. Its own installdependencies.sh does not
  # recognise Amazon Linux 2023 and exits 1, so they are named here instead.
  local dnf_packages=(amazon-cloudwatch-agent libicu krb5-libs openssl-libs zlib)
  local pkg
  for pkg in ${PACKAGES}; do
    case "${pkg}" in
      git) dnf_packages+=(git) ;;
      jq) dnf_packages+=(jq) ;;
      awscli) dnf_packages+=(awscli-2) ;;
      java11-maven) dnf_packages+=(java-11-amazon-corretto-devel maven) ;;
      docker) dnf_packages+=(docker) ;;
      *) log "unknown package ${pkg}"; return 1 ;;
    esac
  done
  log "installing ${dnf_packages[*]}"
  dnf install -y --setopt=install_weak_deps=False "${dnf_packages[@]}"
  if [[ " ${PACKAGES} " == *" docker "* ]]; then
    systemctl enable --now docker
  fi
}

ship_logs() {
  mkdir -p /opt/aws/amazon-cloudwatch-agent/etc
  cat > /opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json <<JSON
{
  "logs": {
    "logs_collected": {
      "files": {
        "collect_list": [
          {"file_path": "${BOOT_LOG}", "log_group_name": "${LOG_GROUP}", "log_stream_name": "${INSTANCE_ID}/boot"},
          {"file_path": "${RUNNER_DIR}/_diag/Runner_*.log", "log_group_name": "${LOG_GROUP}", "log_stream_name": "${INSTANCE_ID}/runner"},
          {"file_path": "${RUNNER_DIR}/_diag/Worker_*.log", "log_group_name": "${LOG_GROUP}", "log_stream_name": "${INSTANCE_ID}/job"}
        ]
      }
    }
  }
}
JSON
  "${AGENT_CTL}" -a fetch-config -m ec2 \
    -c file:/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json -s
  LOGS_SHIPPED=1
}

install_runner() {
  id "${RUNNER_USER}" >/dev/null 2>&1 || useradd --create-home "${RUNNER_USER}"
  if [[ " ${PACKAGES} " == *" docker "* ]]; then
    usermod -aG docker "${RUNNER_USER}"
  fi
  # Chooses the release, checks its SHA-256, refuses to unpack on a mismatch.
  "${STATE_DIR}/fetch-runner.sh" "${RUNNER_DIR}"
  chown -R "${RUNNER_USER}:${RUNNER_USER}" "${RUNNER_HOME}"
}

# The deployment role is assumed with the instance's own credentials, which IMDS
# keeps fresh, so chained credentials refresh by themselves during a 30-hour job.
write_aws_profile() {
  mkdir -p "${RUNNER_HOME}/.aws"
  cat > "${RUNNER_HOME}/.aws/config" <<INI
[default]
region = ${AWS_REGION}

[profile synapse-deployment]
role_arn = ${DEPLOYMENT_ROLE_ARN}
credential_source = Ec2InstanceMetadata
region = ${AWS_REGION}
INI
  chown -R "${RUNNER_USER}:${RUNNER_USER}" "${RUNNER_HOME}/.aws"
}

# The runner calls this hook when it starts a job. The tag is the instance's own
# "busy" marker: it can only make the controller more careful, never remove anyone.
# With admission on, the hook then waits for the controller's verdict on the job
# (admission-hook.sh, written by the user data next to this file, root-owned like
# its settings) and fails the job before its first step unless it was admitted.
write_job_started_hook() {
  cat > "${STATE_DIR}/job-started.sh" <<HOOK
#!/bin/bash
aws ec2 create-tags --region ${AWS_REGION} --resources ${INSTANCE_ID} \\
  --tags "Key=${JOB_STARTED_TAG},Value=\$(date -u +%Y-%m-%dT%H:%M:%SZ)" || true
HOOK
  if [[ -n "${ADMISSION_PARAMETER_PREFIX:-}" ]]; then
    printf 'VERDICT_PARAMETER=%s\nAWS_REGION=%s\nWAIT_SECONDS=%s\n' \
      "${ADMISSION_PARAMETER_PREFIX}${INSTANCE_ID}" "${AWS_REGION}" "${ADMISSION_WAIT_SECONDS:?}" \
      > "${STATE_DIR}/admission.env"
    chmod 0644 "${STATE_DIR}/admission.env"
    echo "exec /bin/bash -e ${STATE_DIR}/admission-hook.sh" >> "${STATE_DIR}/job-started.sh"
  fi
  chmod 0755 "${STATE_DIR}/job-started.sh"
  echo "ACTIONS_RUNNER_HOOK_JOB_STARTED=${STATE_DIR}/job-started.sh" >> "${RUNNER_DIR}/.env"
  chown "${RUNNER_USER}:${RUNNER_USER}" "${RUNNER_DIR}/.env"
}

# Wait for the controller to write this instance's JIT config, read it once and
# delete it. The value is never written to disk or to the log.
read_jit_config() {
  local name="${JIT_PARAMETER_PREFIX}${INSTANCE_ID}"
  local deadline=$((SECONDS + JIT_WAIT_SECONDS))
  local value=""
  log "waiting for ${name}"
  while ((SECONDS < deadline)); do
    if value=$(aws ssm get-parameter --name "${name}" --with-decryption \
      --query Parameter.Value --output text 2>/dev/null) && [[ -n "${value}" ]]; then
      aws ssm delete-parameter --name "${name}" >/dev/null || log "could not delete ${name}; the controller's sweeper will"
      JIT_CONFIG=${value}
      return 0
    fi
    sleep 3
  done
  log "no JIT config after ${JIT_WAIT_SECONDS}s"
  return 1
}

install_once() {
  if [[ -f "${INSTALLED_MARKER}" ]]; then
    return 0
  fi
  install_packages
  # Logs ship before the download, so a refused runner reaches the alarm.
  ship_logs
  install_runner
  write_aws_profile
  write_job_started_hook
  touch "${INSTALLED_MARKER}"
}

main() {
  log "instance ${INSTANCE_ID} of pool ${POOL_NAME} (${FLEET_ENV})"
  local target_state
  target_state=$(imds autoscaling/target-lifecycle-state || true)
  if [[ "${target_state}" == Warmed:* ]]; then
    # Entering the warm pool: prepare, then tell the controller, which only
    # then lets the group stop the instance (a stop mid-install would leave it
    # half prepared). systemd runs this script again when it leaves the pool.
    trap - EXIT
    install_once
    aws ec2 create-tags --resources "${INSTANCE_ID}" \
      --tags "Key=${WARM_READY_TAG},Value=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    log "prepared for the warm pool (${target_state})"
    return 0
  fi
  install_once
  ship_logs
  JIT_CONFIG=""
  read_jit_config
  log "starting the runner for one job"
  cd "${RUNNER_DIR}"
  # The runner reads its JIT config from this variable: on a command line it
  # would reach the journal (sudo logs commands) and every process listing.
  # runuser without --login keeps the environment and logs nothing.
  ACTIONS_RUNNER_INPUT_JITCONFIG=${JIT_CONFIG} runuser -u "${RUNNER_USER}" -- ./run.sh
}

main
