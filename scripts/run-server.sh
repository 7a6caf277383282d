#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs eventbase-server. With no --nats it
# starts its own nats-server (JetStream, loopback, store under ./data/nats, each write synced to
# disk before it is acknowledged): the newest that scripts/setup.sh provided
# (scripts/nats-server-path.sh), unless --nats-server-bin or $EVENTBASE_NATS_SERVER names one.
# Extra arguments go to the server (see build/apps/eventbase-server --help); Ctrl-C stops it
# cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh eventbase-server eventbase-cli >&2
args=("$@")
named=false
for arg in "$@"; do
  case "$arg" in --nats-server-bin=*) named=true ;; esac
done
if ! $named && [ -z "${EVENTBASE_NATS_SERVER:-}" ] && newest="$(scripts/nats-server-path.sh)"; then
  args=("--nats-server-bin=$newest" "${args[@]}")
fi
exec "${BUILD_DIR:-build}/apps/eventbase-server" "${args[@]}"
