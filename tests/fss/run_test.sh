#!/bin/sh
# SPDX-License-Identifier: MIT
# fss run with unmodified programs: each case runs under `fss run`, must
# change the tree, and `fss restore` must give back the snapshot taken
# before (contents, types, modes, owners, sizes, symlink targets, and the
# mtimes of all but directories: restore does not put directory times back).
# Usage: run_test.sh FSS RUN_PROBE
set -u
FSS=$1
PROBE=$2
T=$(mktemp -d "${TMPDIR:-/tmp}/fss-run-test.XXXXXX")
trap 'chmod -R u+rwX "$T" 2>/dev/null; rm -rf "$T"' EXIT
R=$T/root
fails=0

# qemu-user refuses seccomp filters: there `fss run` cannot start, and the
# suite skips with fss's own message (tests/SKIPS.md).
mkdir -p "$T/probe-root"
if ! "$FSS" run --root "$T/probe-root" -- true 2> "$T/probe"; then
  if grep -q 'seccomp user notification unavailable' "$T/probe"; then
    echo "SKIP: $(cat "$T/probe")"
    exit 77
  fi
fi

snap() {  # the tree under $R but the checkpoint area
  (cd "$R" && find . -path ./checkpoint -prune -o -type d -printf '%p %y %m %U %G\n' -o -printf '%p %y %m %U %G %s %T@ %l\n' | LC_ALL=C sort &&
   find . -path ./checkpoint -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum)
}

seed() {
  rm -rf "$R" && mkdir -p "$R/d/e" && cd "$R" || exit 1
  printf 'hello\n' > a
  printf 'one\ntwo\n' > d/b
  printf 'deep\n' > d/e/c
  ln -s a link
  printf 'other\n' > other
  dd if=/dev/zero of=mapped bs=4096 count=1 2>/dev/null
  printf 'file\n' > file
  chmod 640 d/b
  touch -d '2020-01-02 03:04:05' a d/b d/e/c d/e d
}

# case NAME COMMAND...: seed, snapshot, run, check it changed, restore, compare.
case_() {
  name=$1
  shift
  seed
  before=$(snap)
  "$FSS" run --root "$R" -- "$@" > "$T/out" 2>&1
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "FAIL $name: exit $rc"; cat "$T/out"; fails=$((fails + 1)); return
  fi
  if [ "$(snap)" = "$before" ]; then
    echo "FAIL $name: the command changed nothing"; fails=$((fails + 1)); return
  fi
  "$FSS" restore --root "$R" > /dev/null || { echo "FAIL $name: restore"; fails=$((fails + 1)); return; }
  after=$(snap)
  if [ "$after" != "$before" ]; then
    echo "FAIL $name: restore differs"
    printf '%s\n' "$before" > "$T/before"; printf '%s\n' "$after" > "$T/after"
    diff "$T/before" "$T/after"
    fails=$((fails + 1)); return
  fi
  echo "ok   $name"
}

case_ sh sh -c 'echo changed > a; rm -rf d; mkdir n; echo new > n/f; ln -s a l2; mv other o2; chmod 600 file'
case_ coreutils sh -c 'cp a a.copy && cp -a d d2 && mv d/b d/b2 && sed -i s/one/ONE/ d/b2 && ln a hard &&
  chmod 700 d/e && touch -d 2001-01-01 d/e/c && rm -rf d/e && ln -sf file link'
case_ tar sh -c 'tar -C d -cf x.tar . && rm -rf d && mkdir d && tar -C d -xpf x.tar && mkdir d3 && tar -C d3 -xf x.tar && rm x.tar &&
  tar -cf y.tar a && echo zz > a && tar -xf y.tar && rm y.tar'
if [ -x /bin/busybox ] && ! ldd /bin/busybox > /dev/null 2>&1; then
  case_ busybox-static /bin/busybox sh -c 'echo x > a; /bin/busybox rm -rf d; /bin/busybox mkdir -p q/r;
    /bin/busybox cp other q/r/; /bin/busybox mv file f2; /bin/busybox chmod 000 other'
else
  echo "SKIP busybox-static: no statically linked /bin/busybox"
fi
case_ threads "$PROBE" threads
case_ fork-exec sh -c '(echo child > c1; sh -c "echo grandchild > c2; rm a") & wait; exec sh -c "rm -r d/e"'
# make -j2 of a generated 40-file C project
gen_make='mkdir proj && cd proj && i=0 && objs= &&
  while [ $i -lt 40 ]; do echo "int f$i(void) { return $i; }" > f$i.c; objs="$objs f$i.o"; i=$((i+1)); done &&
  echo "int main(void) { return 0; }" > main.c &&
  printf "prog: main.o %s\n\tcc -o prog main.o %s\n%%.o: %%.c\n\tcc -c -o \$@ \$<\n" "$objs" "$objs" > Makefile &&
  make -s -j2 && ./prog'
case_ make sh -c "$gen_make"
if command -v git > /dev/null; then
  case_ git sh -c 'mkdir repo && cd repo && git init -q && echo x > f && git add f &&
    git -c user.name=t -c user.email=t@t commit -qm one && echo y >> f && git commit -qam two -c user.name=t \
    --author="t <t@t>" 2>/dev/null || git -c user.name=t -c user.email=t@t commit -qam two'
fi
OUTLINK=$T/outlink
export OUTLINK
ln -sf "$R/d/b" "$OUTLINK"
case_ escape "$PROBE" escape

# fss run SIGKILLed mid-way: the program's further changes fail (the
# listener is gone, the kernel answers ENOSYS), and restore is exact.
seed
before=$(snap)
"$FSS" run --root "$R" -- sh -c 'echo $$ > "$0/../started.pid"; echo started > started; i=0; while [ $i -lt 100000 ]; do
  echo $i > "f$i"; rm -f a; i=$((i + 1)); done' "$R" > /dev/null 2>&1 &
runpid=$!
n=0
while [ ! -e "$R/started" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
sleep 0.3
kill -9 $runpid
wait $runpid 2>/dev/null
sleep 0.3  # the orphaned shell runs on, changing nothing now
"$FSS" restore --root "$R" > /dev/null
kill "$(cat "$T/started.pid")" 2>/dev/null
if [ "$(snap)" = "$before" ]; then echo "ok   killed-mid-way"; else echo "FAIL killed-mid-way"; fails=$((fails + 1)); fi

# A program that changes its uid is refused rather than acting with fss
# run's credentials (checked as root only: others cannot change uid).
if [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null; then
  seed
  chmod 777 "$R"
  "$FSS" run --root "$R" -- setpriv --reuid=65534 --regid=65534 --clear-groups sh -c 'echo x > "$0/nobody"' "$R" 2>/dev/null
  if [ -e "$R/nobody" ]; then echo "FAIL uid-change"; fails=$((fails + 1)); else echo "ok   uid-change"; fi
  chmod 755 "$R"
fi

# The exit status is the command's.
seed
"$FSS" run --root "$R" -- sh -c 'exit 7'
[ $? -eq 7 ] && echo "ok   exit-status" || { echo "FAIL exit-status"; fails=$((fails + 1)); }
# --confine refuses changes outside the root, and lets those inside through.
"$FSS" run --root "$R" --confine -- sh -c "echo yes > inside; echo no > '$T/outside'" 2>/dev/null
if [ -e "$T/outside" ] || [ ! -e "$R/inside" ]; then echo "FAIL confine"; fails=$((fails + 1)); else echo "ok   confine"; fi
"$FSS" restore --root "$R" > /dev/null
[ $fails -eq 0 ] || { echo "$fails case(s) failed"; exit 1; }
