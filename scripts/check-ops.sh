#!/usr/bin/env bash
# Checks ops/: the Prometheus alert rules parse (`promtool check rules`) and fire as their tests say
# (`promtool test rules`). The Grafana dashboard is checked by test/unit/ops-dashboard.test.ts. promtool comes
# with Debian's `prometheus` package (scripts/setup.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/../ops/prometheus"
if ! command -v promtool >/dev/null 2>&1; then
  echo "check-ops: promtool is missing; install it with:  sudo apt-get install -y --no-install-recommends prometheus" >&2
  exit 1
fi
promtool check rules concord-rules.yml
promtool test rules concord-rules.test.yml
