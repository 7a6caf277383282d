#!/usr/bin/env bash
# Installs the Debian 12 packages Eventbase builds, tests and runs with, when they are missing.
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
((${#missing[@]} == 0)) && exit 0

echo "setup: installing ${missing[*]}" >&2
as_root=()
if [ "$(id -u)" -ne 0 ]; then as_root=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq >/dev/null
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
