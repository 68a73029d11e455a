#!/usr/bin/env bash
# Appends a diff to the job summary under a heading, fenced so Markdown leaves it
# alone, and prints it to the log. Colour codes are stripped; a diff larger than
# the summary can hold is cut, with a note pointing at the full log.
#
# Usage: scripts/summarize-diff.sh <title> <file>
set -euo pipefail

title=${1:?usage: summarize-diff.sh <title> <file>}
file=${2:?usage: summarize-diff.sh <title> <file>}
summary=${GITHUB_STEP_SUMMARY:-/dev/null}
# GitHub refuses step summaries over 1 MiB; leave room for the other sections.
max_bytes=${SUMMARY_MAX_BYTES:-400000}

[[ -f "${file}" ]] || {
  echo "::error title=summary::${file} does not exist"
  exit 1
}

clean=$(sed -e 's/\x1b\[[0-9;]*[A-Za-z]//g' -e '/^npm warn /d' "${file}")
printf '%s\n' "${clean}"

size=$(printf '%s' "${clean}" | wc -c)
{
  echo "### ${title}"
  echo
  # A fence longer than any run of backticks in the text cannot be closed early.
  echo '`````diff'
  if ((size > max_bytes)); then
    printf '%s' "${clean}" | head -c "${max_bytes}"
    echo
    echo "... cut at ${max_bytes} of ${size} bytes; the job log has the whole diff"
  else
    printf '%s\n' "${clean}"
  fi
  echo '`````'
  echo
} >>"${summary}"
