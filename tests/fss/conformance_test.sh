#!/bin/sh
# SPDX-License-Identifier: MIT
# Differential conformance of fss run: conformance_probe's seeded sequence of
# file-system calls (results and errno printed) runs once directly and once
# under `fss run` on equal starting trees; the logs and the final trees
# (types, modes, sizes, link counts, contents, symlink targets) must be equal,
# and `fss restore` must give the starting tree back. As root the whole test
# runs as nobody (65534), so that EACCES comes from permissions as for any
# user. Usage: conformance_test.sh FSS PROBE [SEEDS] [CALLS]
set -u
FSS=$1
PROBE=$2
SEEDS=${3:-4}
CALLS=${4:-1000}
if [ "$(id -u)" = 0 ] && [ -z "${FSS_CONFORMANCE_AS_NOBODY:-}" ]; then
  T=$(mktemp -d "${TMPDIR:-/tmp}/fss-conformance.XXXXXX")
  # fss finds its preload library beside it.
  lib=$(dirname "$FSS")/libfss-preload.so
  [ -e "$lib" ] || lib=
  cp "$FSS" "$PROBE" "$0" $lib "$T/" && chown -R 65534:65534 "$T" && chmod 755 "$T"
  FSS_CONFORMANCE_AS_NOBODY=1 HOME=$T "$PROBE" nobody \
    sh "$T/$(basename "$0")" "$T/$(basename "$FSS")" "$T/$(basename "$PROBE")" "$SEEDS" "$CALLS"
  rc=$?
  rm -rf "$T"
  exit $rc
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/fss-conformance-run.XXXXXX")
# EXDEV needs a second file system: /dev/shm when the tree is not on it.
O=$(mktemp -d /dev/shm/fss-conformance.XXXXXX)
trap 'chmod -R u+rwX "$T" 2>/dev/null; rm -rf "$T" "$O"' EXIT
export HOME=$T/home
unset XDG_STATE_HOME FSS_RUN_AREA
fails=0

# qemu-user refuses seccomp filters: there `fss run` cannot start (tests/SKIPS.md).
mkdir -p "$T/probe-root"
if ! "$FSS" run --root "$T/probe-root" -- true 2> "$T/probe"; then
  if grep -q 'seccomp user notification unavailable' "$T/probe"; then
    echo "SKIP: $(cat "$T/probe")"
    exit 77
  fi
fi

seed_tree() {
  mkdir -p "$1/d/e" "$1/ro" && printf 'hello\n' > "$1/a" && printf 'source bytes\n' > "$1/src" &&
    printf 'in ro\n' > "$1/ro/a" && ln -s a "$1/link-a" && ln -s d "$1/link-d" && chmod 555 "$1/ro"
}
# What the test's user can see of a tree: the inside of a directory the
# probe made unsearchable (chmod 0640) is left out alike on both sides.
snap() { "$PROBE" snap "$1"; }

# The same mask on both sides, set here rather than by the probe: a umask
# call would take a process off the preload fast path.
umask 022
s=1
while [ "$s" -le "$SEEDS" ]; do
  for side in direct fss; do
    chmod -R u+rwX "$T/$side" 2>/dev/null; rm -rf "$T/$side" && mkdir -p "$T/$side" "$O/$side" && seed_tree "$T/$side"
  done
  start=$(snap "$T/fss")
  (cd "$T/direct" && "$PROBE" "$s" "$CALLS" "$O/direct" > "$T/direct.log")
  # Odd seeds with the preload fast path (where the library is found),
  # even ones without: the probe's opens take either way.
  preload=auto
  [ $((s % 2)) = 0 ] && preload=off
  (cd "$T/fss" && "$FSS" run --preload $preload --stats --root "$T/fss" -- "$PROBE" "$s" "$CALLS" "$O/fss" \
    > "$T/fss.log" 2> "$T/fss.err")
  channel=$(sed -n 's/.*, \([0-9]*\) through the preload channel$/\1/p' "$T/fss.err")
  grep -v 'through the preload channel$' "$T/fss.err" >&2
  if ! cmp -s "$T/direct.log" "$T/fss.log"; then
    echo "FAIL seed $s: results differ"; diff "$T/direct.log" "$T/fss.log" | head -20; fails=$((fails + 1))
  elif [ "$(snap "$T/direct")" != "$(snap "$T/fss")" ]; then
    echo "FAIL seed $s: trees differ"; snap "$T/direct" > "$T/a.snap"; snap "$T/fss" > "$T/b.snap"
    diff "$T/a.snap" "$T/b.snap" | head -20; fails=$((fails + 1))
  else
    "$FSS" restore --root "$T/fss" > /dev/null 2> "$T/restore.err"
    rrc=$?
    if [ $rrc -ne 0 ] || [ -s "$T/restore.err" ]; then
      echo "FAIL seed $s: restore exit $rrc"; cat "$T/restore.err"; fails=$((fails + 1))
    elif [ "$(snap "$T/fss")" != "$start" ]; then
      echo "FAIL seed $s: restore"; echo "$start" > "$T/a.snap"; snap "$T/fss" > "$T/b.snap"
      diff "$T/a.snap" "$T/b.snap" | head -20; fails=$((fails + 1))
    else
      echo "ok   seed $s (preload $preload, $channel through it): $CALLS calls, $(grep -c ' -> -1 ' "$T/fss.log") failing ($(sed -n 's/.* -> -1 //p' \
        "$T/fss.log" | sort -u | tr '\n' ' '))"
    fi
  fi
  s=$((s + 1))
done
[ $fails -eq 0 ] || { echo "$fails seed(s) failed"; exit 1; }
