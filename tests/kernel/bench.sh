#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs the kernel benchmark inside the guest and prints each JSON record on
# one line, prefixed "RAMS-BENCH-JSON ", for the host to collect.
dir=/tmp/bench
rm -rf "$dir" && mkdir -p "$dir"
RAMS_BENCH_DIR=$dir "$1"
rc=$?
for f in "$dir"/*.json; do
  [ -f "$f" ] && echo "RAMS-BENCH-JSON $(tr -d '\n' < "$f")"
done
exit $rc
