#!/bin/sh
# Boot script of the demo image. On the local host it runs once the puppet is ready, with
# `tml-puppet` on PATH, TML_PUPPET_SOCKET pointing at this job's puppet and TML_PARAMETERS_DIR
# holding one file per job parameter. On a real host the same commands work with the defaults
# (/run/tml/puppet.sock, /run/tml/parameters).
set -eu

params="${TML_PARAMETERS_DIR:-/run/tml/parameters}"
# The puppet writes the job's ids next to the parameters directory (/run/tml/job-id on a real host).
echo "boot: job $(cat "$params/../job-id") is up"

tml-puppet job substate "reading parameters"
greeting=$(tml-puppet parameter get greeting)
echo "boot: parameter greeting = $greeting"
# A secret parameter is a file like any other; print only facts about it, never the value.
key_bytes=$(wc -c < "$params/api-key" | tr -d ' ')
echo "boot: parameter api-key is present ($key_bytes bytes, value not shown)"

tml-puppet job substate "running tests"
# The "test suite": a script that checks what the job was given. `job run` runs it, reports
# success or error from its exit code, and with --terminate ends the job afterwards.
cat > ./test.sh <<'TEST'
#!/bin/sh
set -eu
params="${TML_PARAMETERS_DIR:-/run/tml/parameters}"
failed=0
check() {
  if eval "$2"; then echo "test: $1 ... ok"; else echo "test: $1 ... FAILED"; failed=1; fi
}
check "greeting is hello" '[ "$(cat "$params/greeting")" = hello ]'
check "api-key is set" '[ -s "$params/api-key" ]'
# parameter files are 0644, secret or not, as upstream's puppet writes them (the workload user reads
# them); on the local host the directory holding them is open to its owner alone
check "the parameters directory is open only to its owner" '[ "$(stat -c %a "$params")" = 700 ]'
[ "$failed" = 0 ] && echo "test: all passed"
exit "$failed"
TEST
chmod +x ./test.sh
exec tml-puppet job run --terminate -- ./test.sh
