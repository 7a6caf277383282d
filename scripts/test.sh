#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test. Tests that need NATS
# start their own nats-server (JetStream, free loopback port, temporary store) and stop it when
# they end; nothing is left running.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j"${JOBS:-2}" "$@"
