#!/bin/bash
# Manual check that an interrupted test run leaves no servers, reapers or temp dirs behind.
# usage: test/support/services/check-cleanup.sh SIGNAL SECONDS [vitest filter]
#   e.g. check-cleanup.sh INT 8    check-cleanup.sh KILL 10 test/integration/harness
# The run gets its own TMPDIR: every server it spawns runs with its cwd under it (the reaper names it in
# its arguments), which tells this run's processes from other runs and from the machine's own services.
set -m # job control: a background job must not start with SIGINT ignored
cd "$(dirname "$0")/../../.."
signal=${1:-INT}
seconds=${2:-8}
filter=${3:-test/integration/harness}
root=$(mktemp -d /tmp/concord-check-XXXX)
chmod 755 "$root"
servers() { ls -l /proc/[0-9]*/cwd 2>/dev/null | grep -c "$root/concord-"; }
reapers() { pgrep -fc "reaper-script.mjs .* $root/"; }
dirs() {
  { find "$root" -mindepth 1 -maxdepth 1 -name 'concord-*' ! -name 'concord-cache-*'
    find "$root"/concord-cache-* -mindepth 1 -maxdepth 1 -name '*.building-*' 2>/dev/null; } | wc -l
}
state() { echo "$(servers) server processes, $(reapers) reapers, $(dirs) dirs"; }

TMPDIR=$root timeout -s "$signal" "$seconds" npx vitest run --project integration "$filter" >"$root.log" 2>&1 &
sleep "$((seconds - 1)).7"
echo "0.3 s before SIG$signal: $(state)"
wait $!
echo "exit $?, right after: $(state)"
for i in $(seq 1 50); do
  if [ "$(state)" = "0 server processes, 0 reapers, 0 dirs" ]; then
    echo "clean after ~$((i * 100 - 100)) ms"
    break
  fi
  sleep 0.1
done
[ "$(state)" = "0 server processes, 0 reapers, 0 dirs" ] || { echo "LEFT BEHIND: $(state)"; ls -l /proc/[0-9]*/cwd 2>/dev/null | grep "$root"; }
grep -h "concord services" "$root.log"
rm -rf "$root" "$root.log"
