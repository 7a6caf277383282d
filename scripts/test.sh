#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test. Tests that need NATS
# start their own nats-server (JetStream, free loopback port, temporary store) and stop it when
# they end; nothing is left running.
#
# NATS releases: the whole suite runs against the newest nats-server available (the newest that
# scripts/setup.sh fetched into .nats-servers/ from Debian's unstable, else the system's), then
# the suites that start NATS (integration, system, cluster) once more against each other release
# there is: the others setup fetched (trixie's 2.10) and the system's (Debian 12's 2.9). Each pass
# says which release it runs; a release setup could not fetch is reported as skipped.
# $EVENTBASE_NATS_SERVER, when set, is the one release everything runs against.
#
# Then the sanitizer stage: the same suite built with clang, AddressSanitizer, UBSan and the fuzz
# targets (-DEVENTBASE_SANITIZE=ON -DEVENTBASE_FUZZ=ON) in ./build-sanitize (or
# $SANITIZE_BUILD_DIR), against the newest release, run with leak detection; any sanitizer
# report, in a test or in a process it starts, fails the run. EVENTBASE_SKIP_SANITIZE=1 skips
# this stage for quick local runs (CI runs it). Arguments go to the ctest runs of the whole suite
# (e.g. -R protocol); with arguments, the passes on other releases are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
# Warnings are errors here (not for users building the library).
EVENTBASE_CMAKE_ARGS="-DEVENTBASE_WERROR=ON" scripts/build.sh

# "2.9.10 (/usr/sbin/nats-server)" for a nats-server program.
describe_nats() {
  echo "$("$1" --version 2>/dev/null | sed 's/^nats-server: v//') ($1)"
}
system_nats="$(PATH="$PATH:/usr/sbin:/sbin" command -v nats-server || true)"
if [ -n "${EVENTBASE_NATS_SERVER:-}" ]; then
  newest="$EVENTBASE_NATS_SERVER"
  others=()
else
  newest="$(scripts/nats-server-path.sh)"
  others=()
  for candidate in .nats-servers/*/nats-server "$system_nats"; do
    [ -x "$candidate" ] || continue
    candidate="$(cd "$(dirname "$candidate")" && pwd)/$(basename "$candidate")"
    [ "$candidate" = "$newest" ] || others+=("$candidate")
  done
  if [[ "$newest" != "$PWD/.nats-servers/"* ]]; then
    echo "test: no nats-server in .nats-servers/ (scripts/setup.sh could not fetch Debian's" \
      "unstable and trixie releases): the passes on them are skipped" >&2
  fi
fi

echo "test: the whole suite, on nats-server $(describe_nats "$newest")" >&2
EVENTBASE_NATS_SERVER="$newest" ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure \
  -j"${JOBS:-2}" "$@"
for release in "${others[@]}"; do
  if (($# > 0)); then
    echo "test: arguments given: the pass on nats-server $(describe_nats "$release") is skipped" >&2
    continue
  fi
  echo "test: the NATS suites again, on nats-server $(describe_nats "$release")" >&2
  EVENTBASE_NATS_SERVER="$release" ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure \
    -j"${JOBS:-2}" -R '^(integration_tests|system_tests|cluster_tests)\.'
done

if [ "${EVENTBASE_SKIP_SANITIZE:-0}" = 1 ]; then
  echo "test: sanitizer stage skipped (EVENTBASE_SKIP_SANITIZE=1)" >&2
  exit 0
fi

scripts/setup.sh --sanitize
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true  # as in scripts/build.sh
san_dir="${SANITIZE_BUILD_DIR:-build-sanitize}"
cmake -S . -B "$san_dir" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DEVENTBASE_SANITIZE=ON -DEVENTBASE_FUZZ=ON -DEVENTBASE_WERROR=ON >/dev/null
cmake --build "$san_dir" -j"${JOBS:-2}"

# Every report goes to a file of its own (<dir>/report.<pid>) as well as failing the
# process with exit code 86, so a report in a child whose exit code a test ignores still fails the
# run. Children inherit these variables (base/subprocess.cc passes the environment on).
reports="$(cd "$san_dir" && pwd)/sanitizer-reports"
rm -rf "$reports"
mkdir -p "$reports"
supp="$PWD/tests/sanitizers/lsan.supp"
export ASAN_OPTIONS="detect_leaks=1:exitcode=86:halt_on_error=1:abort_on_error=0:handle_abort=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1:strict_string_checks=1:log_path=$reports/report"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=86:log_path=$reports/report"
export LSAN_OPTIONS="suppressions=$supp:print_suppressions=0"
status=0
# The load suite with 20 puts per client here: 4,000 client processes under ASan take minutes.
echo "test: the sanitizer stage, on nats-server $(describe_nats "$newest")" >&2
EVENTBASE_NATS_SERVER="$newest" EVENTBASE_LOAD_PUTS=20 \
  ctest --test-dir "$san_dir" --output-on-failure -j"${JOBS:-2}" "$@" ||
  status=$?
if compgen -G "$reports/*" >/dev/null; then
  for f in "$reports"/*; do
    echo "==== sanitizer report $f" >&2
    cat "$f" >&2
  done
  echo "test: sanitizer reports in $reports" >&2
  status=1
fi
exit "$status"
