#!/bin/sh
# SPDX-License-Identifier: MIT
# `make demo`: fss run undoes a script that edits, deletes and creates files.
# Usage: fss_run_demo.sh FSS
set -eu
# Absolute: the demo works inside its own temporary tree.
FSS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
R=$(mktemp -d "${TMPDIR:-/tmp}/fss-run-demo.XXXXXX")
trap 'rm -rf "$R"' EXIT
cd "$R"
printf 'line one\nline two\n' > notes.txt
mkdir -p src && printf 'int main(void) { return 0; }\n' > src/main.c
printf 'keep me\n' > important.txt
echo "== the tree before =="
find . -path ./checkpoint -prune -o -type f -print | sort | while read -r f; do echo "$f: $(head -c 40 "$f" | tr '\n' ' ')"; done
echo "== fss run -- sh -c 'edit, delete, create' =="
"$FSS" run --root "$R" -- sh -c 'sed -i "s/two/TWO (edited)/" notes.txt; rm -rf src important.txt;
  mkdir build && echo "made by the script" > build/new.txt'
echo "== fss status =="
"$FSS" status --root "$R"
echo "== fss restore =="
"$FSS" restore --root "$R"
echo "== the tree after restore =="
find . -path ./checkpoint -prune -o -type f -print | sort | while read -r f; do echo "$f: $(head -c 40 "$f" | tr '\n' ' ')"; done
