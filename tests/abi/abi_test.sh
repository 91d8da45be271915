#!/bin/sh
# SPDX-License-Identifier: MIT
# The ABI check: the built librams.so matches the baseline, and the check
# really fails on a library that lacks one exported function.
#   abi_test.sh CXX LIBRAMS_SO MAP_FILE "OBJECTS..." SODIUM_FLAGS...
# CXX is the build's C++ compiler (a cross compiler links the shortened
# library of a cross build).
set -u
cxx="$1"; lib="$2"; map="$3"; objects="$4"; shift 4
here="$(cd "$(dirname "$0")/../.." && pwd)"
check="$here/scripts/abi-check"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
passed=0; failed=0

"$check" "$lib" >"$tmp/out" 2>&1
rc=$?
if [ "$rc" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: built library vs baseline: exit $rc"; cat "$tmp/out"; fi

# The same objects, linked with rams_segment_stat made local: one function fewer.
removed=rams_segment_stat
sed "s/^  local:\$/  local:\n    $removed;/" "$map" >"$tmp/short.map"
# shellcheck disable=SC2086
"$cxx" -shared -o "$tmp/librams.so.0" -Wl,-soname,librams.so.0 -Wl,--version-script="$tmp/short.map" \
  $objects "$@" -pthread
if nm -D --defined-only "$tmp/librams.so.0" | grep -q " $removed@"; then
  failed=$((failed + 1)); echo "FAIL: $removed still exported from the shortened library"
fi
"$check" "$tmp/librams.so.0" >"$tmp/out" 2>&1
rc=$?
if [ "$rc" -eq 1 ] && grep -q "$removed" "$tmp/out"; then passed=$((passed + 1))
else failed=$((failed + 1)); echo "FAIL: a removed $removed was not an incompatible change: exit $rc"; cat "$tmp/out"; fi
echo "abi: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
