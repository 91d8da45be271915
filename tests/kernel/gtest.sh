#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs one GoogleTest binary inside the guest: gtest.sh BINARY FILTER (for
# librams' segment and sync tests, the kernel backend's instances). Fails
# when the binary fails or when no test ran (e.g. the kernel backend was not
# found). Each skipped test is printed
# as "GTEST-SKIP NAME: MESSAGE"; scripts/check-skips fails the suite on any
# whose reason tests/SKIPS.md does not list for the guest's suite.
bin=$1
filter=$2
out=/tmp/gtest.$$
"$bin" --gtest_filter="$filter" --gtest_color=no >"$out" 2>&1
rc=$?
grep -vE '^\[       OK \]|^\[ RUN      \]' "$out"
awk '/^\[ RUN      \] / { name = $4; msg = ""; next }
     /^\[       OK \] |^\[  FAILED  \] / { name = ""; next }
     /^\[  SKIPPED \] / { if (name != "" && $4 == name) print "GTEST-SKIP " name ":" msg; name = ""; next }
     name != "" && NF > 0 { msg = msg " " $0 }' "$out"
passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out")
rm -f "$out"
if [ "$rc" -ne 0 ]; then exit "$rc"; fi
if [ -z "$passed" ] || [ "$passed" -eq 0 ]; then
  echo "gtest.sh: no test of $filter ran"
  exit 1
fi
exit 0
