#!/usr/bin/env bash
# Runs one suite of a caf-test binary (what each ctest test is, tests/CMakeLists.txt) so that a
# failing check names itself in the log: caf-test prints failed checks ("!! file:line expr")
# only at its most verbose level, beside a line for every passing check ("** ..."), which is
# dropped here. The exit code is the binary's.
set -o pipefail
"$@" -v 5 2>&1 | grep -v '^\*\* '
