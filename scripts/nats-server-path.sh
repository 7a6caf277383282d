#!/usr/bin/env bash
# Prints the absolute path of the newest nats-server available to this checkout: the newest that
# scripts/setup.sh fetched into .nats-servers/<version>/nats-server, else the system's
# nats-server (PATH, then /usr/sbin and /sbin, where Debian puts it). Exit 1, and nothing on
# stdout, when there is none. For scripts: `EVENTBASE_NATS_SERVER=$(scripts/nats-server-path.sh)`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
newest=""
for dir in "$root"/.nats-servers/*/; do
  version="$(basename "$dir")"
  if [ -x "$dir/nats-server" ] &&
    { [ -z "$newest" ] || [ "$(printf '%s\n%s\n' "$newest" "$version" | sort -V | tail -n1)" = "$version" ]; }; then
    newest="$version"
  fi
done
if [ -n "$newest" ]; then
  echo "$root/.nats-servers/$newest/nats-server"
  exit 0
fi
if found="$(PATH="$PATH:/usr/sbin:/sbin" command -v nats-server)"; then
  echo "$(cd "$(dirname "$found")" && pwd)/$(basename "$found")"
  exit 0
fi
echo "nats-server-path: no nats-server (run scripts/setup.sh)" >&2
exit 1
