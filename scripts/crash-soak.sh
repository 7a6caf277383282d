#!/usr/bin/env bash
# Crash soak, run by hand: the crash system test (tests/system/crash_test.cc) with many kills.
# kill -9 of eventbase-server at random instants during writes, start-up and catch-up, a restart on
# the same data path after each, and the checks of every restart (no acknowledged put lost, the
# replica at JetStream's last sequence). Prints the seed and, at the end, the kills, the puts
# acknowledged and the failures found.
#
#   scripts/crash-soak.sh [KILLS [SEED]]      default: 500 kills, a random seed
set -euo pipefail
cd "$(dirname "$0")/.."
export EVENTBASE_CRASH_KILLS="${1:-500}"
if [[ $# -ge 2 ]]; then export EVENTBASE_CRASH_SEED="$2"; fi
scripts/build.sh system_tests >/dev/null
# -r 0: no runtime limit. Failures are printed as they are found.
exec "${BUILD_DIR:-build}/tests/system_tests" -n -r 0 -s '^crash$'
