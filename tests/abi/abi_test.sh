#!/bin/sh
# SPDX-License-Identifier: MIT
# The ABI check: the built librams.so matches the baseline, its exports are
# the symbols file's (debian/librams0.symbols), and the check really fails on
# a library that lacks one exported function.
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

# The symbols file lists what the library exports, no more, no less
# (C names as they are, C++ ones demangled; the RAMS_0 node too).
symbols="$here/debian/librams0.symbols"
nm -D --defined-only "$lib" | awk '{ print $NF }' | sed 's/@@*RAMS_0$//' | c++filt | sort >"$tmp/exported"
sed -n 's/^ (c++[^)]*)"\(.*\)@RAMS_0" .*/\1/p; s/^ \([^ (][^ ]*\)@RAMS_0 .*/\1/p' "$symbols" | sort >"$tmp/listed"
if diff "$tmp/listed" "$tmp/exported" >"$tmp/diff"; then passed=$((passed + 1))
else failed=$((failed + 1)); echo "FAIL: $symbols and the library's exports differ (< listed only, > exported only):"; cat "$tmp/diff"; fi

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
