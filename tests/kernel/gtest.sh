#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs one librams GoogleTest binary inside the guest, restricted to the
# kernel backend: gtest.sh BINARY FILTER. Fails when the binary fails, when
# no test ran (the kernel backend was not found), or when a test skipped.
bin=$1
filter=$2
out=/tmp/gtest.$$
"$bin" --gtest_filter="$filter" --gtest_brief=1 --gtest_color=no >"$out" 2>&1
rc=$?
grep -vE '^\[       OK \]|^\[ RUN      \]' "$out"
passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out")
if [ "$rc" -ne 0 ]; then exit "$rc"; fi
if [ -z "$passed" ] || [ "$passed" -eq 0 ]; then
  echo "gtest.sh: no test of $filter ran"
  exit 1
fi
if grep -q '^\[  SKIPPED \]' "$out"; then
  echo "gtest.sh: tests were skipped on the kernel backend"
  exit 1
fi
exit 0
