#!/bin/sh
# Example boot script for a hardware-CI job: read the job's parameters, report progress as
# sub-states, run the tests, and report how they ended. Started by a unit ordered
# After=tml-puppet.service (the puppet is ready once the parameters are written).
set -eu

board=$(tml-puppet parameter get board)
firmware_url=$(tml-puppet parameter get firmware-url)

tml-puppet job substate "fetching firmware for $board"
curl -fsSL -o /tmp/firmware.bin "$firmware_url" || {
    tml-puppet job finish --status error --output "could not fetch $firmware_url" --terminate
    exit 1
}

tml-puppet job substate "flashing $board"
tockloader flash --board "$board" /tmp/firmware.bin

# Runs the tests with this script's stdout/stderr, reports success (exit 0), error (other
# exit codes) or unknown (killed by a signal), asks the supervisor to end the job, and exits
# with the tests' own exit code.
exec tml-puppet job run --terminate --substate "running tests on $board" -- \
    make -C /opt/tests test BOARD="$board"
