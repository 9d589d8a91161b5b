#!/bin/sh
# Boot script of the example image: the `local` host runs it as the job's workload.
set -eu
echo "example image booted on $(hostname) at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
