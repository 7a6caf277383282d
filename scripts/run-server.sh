#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs eventbase-server. With no --nats it
# starts its own nats-server (JetStream, loopback, store under ./data/nats). Extra arguments go
# to the server (see build/apps/eventbase-server --help); Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh eventbase-server eventbase-cli >&2
exec "${BUILD_DIR:-build}/apps/eventbase-server" "$@"
