#!/bin/sh
# Runs one fuzz target for ctest (fuzz.<target>): libFuzzer writes what it finds into a fresh
# corpus under the build directory and only reads the committed seeds, so the source tree is
# never written. Usage: run_fuzzer.sh FUZZER SEED_DIR WORK_DIR [libFuzzer options...]
set -eu
fuzzer=$1
seeds=$2
work=$3
shift 3
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
exec "$fuzzer" -artifact_prefix="$work/artifacts/" "$@" "$work/corpus" "$seeds"
