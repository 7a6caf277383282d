#!/usr/bin/env bash
# Installs the Debian 12 packages Eventbase builds, tests and runs with, when they are missing,
# and fetches newer nats-servers from Debian's unstable and trixie into .nats-servers/ (below).
# Idempotent, and silent when everything is there. Needs root (or sudo) only to install.
# --sanitize adds the compiler and tools of the sanitizer and fuzzing stage of scripts/test.sh.
set -euo pipefail

packages=(
  g++ cmake make pkg-config ccache   # toolchain (ccache keeps rebuilds of CAF code fast)
  libcaf-dev                         # CAF 0.17: actors, network layer, caf-test
  libnats-dev                        # cnats 3.4: NATS / JetStream client
  librocksdb-dev                     # RocksDB 7.8: the local replica
  libmsgpack-cxx-dev                 # msgpack-c 4.1: record headers
  nlohmann-json3-dev                 # nlohmann/json 3.11: documents, events, JetStream API
  libpcre2-dev                       # PCRE2 10.42: keys(pattern) regexes with JIT and match limits
  libcpp-httplib-dev                 # cpp-httplib 0.11: eventbase-server's --http (health, metrics)
  libssl-dev                         # OpenSSL 3.0 headers: CAF's OpenSSL module (caf/openssl/*.hpp
                                     # includes <openssl/ssl.h>), TLS file checks, NATS nkeys
  openssl                            # the openssl command: the tests' throw-away CA and certificates,
                                     # scripts/dev-certs.sh
  nats-server                        # NATS 2.9 with JetStream: tests and the embedded default
  python3-yaml                       # the test that checks docker-compose.yml
)

# With --sanitize, also what the sanitizer stage of scripts/test.sh needs (the Docker build
# and scripts/build.sh do not):
if [ "${1:-}" = --sanitize ]; then
  packages+=(
    clang                            # clang 14: the ASan/UBSan build and libFuzzer
    libclang-rt-14-dev               # clang 14's runtimes: ASan, UBSan, LSan and libFuzzer
                                     # (-fsanitize=fuzzer); clang pulls it in, named for clarity.
                                     # (libfuzzer-14-dev is a standalone libFuzzer.a: not needed)
    llvm                             # llvm-symbolizer: file:line in sanitizer reports
  )
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "setup: installing ${missing[*]}" >&2
  as_root=()
  if [ "$(id -u)" -ne 0 ]; then as_root=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -qq >/dev/null
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Newer nats-servers beside the system's 2.9: the newest of Debian's unstable and of trixie.
# nats-server 2.10+ can sync each JetStream write to disk before acknowledging it
# (`jetstream { sync_interval: always }`; 2.9 flushes every 2 minutes), and 2.10.19+ checks
# Nats-Expected-Last-Subject-Sequence on every replica. nats-server is a static Go binary, so
# those packages' binaries run on Debian 12. They are extracted, never installed:
# .nats-servers/<version>/nats-server (ignored by git), and .nats-servers/versions.txt records
# the Debian package versions; scripts/nats-server-path.sh prints the newest. apt-get verifies
# what it fetches against the Debian archive keyring. Fetched once, then silent and offline
# (remove .nats-servers/ to fetch the suites' newest again). When the archive cannot be
# reached, one line says so and setup goes on: the tests then use the system's nats-server.
# $EVENTBASE_DEBIAN_MIRROR replaces http://deb.debian.org/debian.
root="$(cd "$(dirname "$0")/.." && pwd)"
nats_dir="$root/.nats-servers"
nats_suites=(unstable trixie)
mirror="${EVENTBASE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

# True when versions.txt exists and every binary it lists is there.
nats_servers_present() {
  [ -f "$nats_dir/versions.txt" ] || return 1
  local dir _rest
  while read -r dir _rest; do
    case "$dir" in '#'* | '') continue ;; esac
    [ -x "$nats_dir/$dir/nats-server" ] || return 1
  done <"$nats_dir/versions.txt"
}

# Fetches into $nats_dir, with apt's state in the scratch directory $1. On failure prints the
# reason (one line) on stdout and returns 1; versions.txt is written last, so a failed fetch
# is tried again by the next run.
fetch_nats_servers() {
  local tmp="$1" suite
  mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/etc" "$tmp/debs" || return 1
  for suite in "${nats_suites[@]}"; do
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main"
  done >"$tmp/etc/sources.list"
  # Only this list, in the scratch state directory: the system's apt setup is not touched.
  local apt_opts=(
    -o "Dir::Etc::SourceList=$tmp/etc/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache" -o APT::Get::List-Cleanup=0
    -o "APT::Sandbox::User=$(id -un)" -o Acquire::http::Timeout=20 -o Acquire::Retries=1
  )
  # Error-Mode=any: a list that cannot be fetched fails the update (by default it is a warning).
  if ! apt-get "${apt_opts[@]}" -o APT::Update::Error-Mode=any update -qq >"$tmp/update.log" 2>&1
  then
    echo "apt-get update: $(grep -m1 '^E:' "$tmp/update.log" || tail -n1 "$tmp/update.log")"
    return 1
  fi
  # Lines like "nats-server | 2.15.1-1 | http://deb.debian.org/debian unstable/main amd64 Packages".
  local -A newest=()  # suite -> the newest Debian version it offers
  local version
  while read -r suite version; do
    if [ -z "${newest[$suite]:-}" ] || dpkg --compare-versions "$version" gt "${newest[$suite]}"
    then
      newest[$suite]="$version"
    fi
  done < <(apt-cache "${apt_opts[@]}" madison nats-server 2>/dev/null |
    awk -F'|' '{ gsub(/ /, "", $2); split($3, w, " "); split(w[2], s, "/");
                 if ($2 != "" && s[1] != "") print s[1], $2 }')
  if ((${#newest[@]} == 0)); then
    echo "the archive lists no nats-server in ${nats_suites[*]}"
    return 1
  fi
  local manifest
  manifest="# nats-server binaries fetched by scripts/setup.sh from $mirror on $(date -u +%F)"
  manifest+=$'\n'"# (remove .nats-servers/ to fetch again): directory, Debian package version, suite"
  local -A fetched=()  # upstream version -> the Debian version extracted into its directory
  local upstream bin candidate
  for suite in "${nats_suites[@]}"; do
    version="${newest[$suite]:-}"
    [ -n "$version" ] || continue
    upstream="${version#*:}"   # no epoch
    upstream="${upstream%-*}"  # no Debian revision: 2.10.27-1+b2 -> 2.10.27
    if [ -z "${fetched[$upstream]:-}" ]; then
      rm -rf "$tmp/debs" "$tmp/x" && mkdir -p "$tmp/debs" || return 1
      if ! (cd "$tmp/debs" && apt-get "${apt_opts[@]}" -qq download "nats-server=$version") \
        >"$tmp/download.log" 2>&1; then
        echo "apt-get download nats-server=$version: $(tail -n1 "$tmp/download.log")"
        return 1
      fi
      if ! dpkg-deb -x "$tmp/debs/"*.deb "$tmp/x" 2>"$tmp/extract.log"; then
        echo "dpkg-deb -x nats-server $version: $(tail -n1 "$tmp/extract.log")"
        return 1
      fi
      bin=""
      for candidate in "$tmp/x/usr/sbin/nats-server" "$tmp/x/usr/bin/nats-server"; do
        if [ -x "$candidate" ]; then bin="$candidate" && break; fi
      done
      if [ -z "$bin" ] || ! "$bin" --version 2>/dev/null | grep -q "^nats-server: v"; then
        echo "the package nats-server $version holds no nats-server that runs here"
        return 1
      fi
      mkdir -p "$nats_dir/$upstream" &&
        install -m 0755 "$bin" "$nats_dir/$upstream/nats-server.part" &&
        mv -f "$nats_dir/$upstream/nats-server.part" "$nats_dir/$upstream/nats-server" ||
        return 1
      fetched[$upstream]="$version"
    fi
    manifest+=$'\n'"$upstream ${fetched[$upstream]} $suite"
  done
  if ((${#fetched[@]} == 0)); then
    echo "the archive lists no nats-server in ${nats_suites[*]}"
    return 1
  fi
  echo "$manifest" >"$nats_dir/versions.txt.part" &&
    mv -f "$nats_dir/versions.txt.part" "$nats_dir/versions.txt" || return 1
}

if ! nats_servers_present; then
  nats_tmp=$(mktemp -d)
  if why=$(fetch_nats_servers "$nats_tmp"); then
    echo "setup: fetched $(grep -v '^#' "$nats_dir/versions.txt" |
      awk '{printf "%snats-server %s (%s)", sep, $2, $3; sep=", "}') into .nats-servers/" >&2
  else
    echo "setup: cannot fetch the newer nats-servers from $mirror (${why:-failed}); the tests" \
      "use the system's nats-server" >&2
  fi
  rm -rf "$nats_tmp"
fi
