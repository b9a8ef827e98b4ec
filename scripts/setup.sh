#!/usr/bin/env bash
# Makes sure the real servers the tests spawn are installed: redis-server (+ redis-cli), PostgreSQL 15+
# (initdb, pg_ctl, pg_basebackup), nats-server, promtool and faketime, plus chromium for the dashboard test. Installs them
# from Debian's packages when it can (root on Debian); otherwise stops and names the exact command.
# Nothing is downloaded from anywhere else.
set -euo pipefail

packages=()
command -v redis-server >/dev/null 2>&1 || packages+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || packages+=(redis-tools)
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || packages+=(nats-server)
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ] || [ ! -x "$pg_bin/pg_basebackup" ]; then
  packages+=(postgresql)
fi
# faketime (libfaketime) runs a test's process with its clock off by +/- 30 s (test/chaos/clock-skew.test.ts).
command -v faketime >/dev/null 2>&1 || packages+=(faketime)
# promtool (scripts/check-ops.sh checks ops/prometheus) ships in Debian's prometheus package.
command -v promtool >/dev/null 2>&1 || packages+=(prometheus)
for extra in ${CONCORD_SETUP_EXTRA:-chromium}; do
  case "$extra" in
    chromium) [ -x /usr/bin/chromium ] || packages+=(chromium) ;;
    *) ;;
  esac
done

[ ${#packages[@]} -eq 0 ] && exit 0

command_line="apt-get update && apt-get install -y --no-install-recommends ${packages[*]}"
if [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing Debian packages: ${packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  echo "setup: installed ${packages[*]}"
else
  echo "setup: missing servers the tests need: ${packages[*]}" >&2
  echo "setup: install them with:  sudo sh -c '$command_line'" >&2
  exit 1
fi
