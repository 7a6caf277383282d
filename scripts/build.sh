#!/usr/bin/env bash
# Sets up (scripts/setup.sh), configures and builds Eventbase into ./build (or $BUILD_DIR):
# everything, or the targets given as arguments. $EVENTBASE_CMAKE_ARGS adds configure options
# (scripts/test.sh: -DEVENTBASE_WERROR=ON).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# ccache: paths relative to the checkout, so that another clone of the repository (CI's) finds
# what this machine compiled already.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
build_dir="${BUILD_DIR:-build}"
# shellcheck disable=SC2086 # the options are words
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
  ${EVENTBASE_CMAKE_ARGS:-} >/dev/null
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build "$build_dir" -j"${JOBS:-2}" "${targets[@]}"
