#!/bin/sh
# SPDX-License-Identifier: MIT
# fss run with unmodified programs: each case runs under `fss run`, must
# change the tree, and `fss restore` must give back the snapshot taken
# before (contents, types, modes, owners, sizes, link counts, symlink
# targets, and the mtimes of all but directories: restore does not put
# directory times back). The snapshot is run_probe's, and the programs are
# what any shell has, so the suite also runs in the 6.1 QEMU guest with
# busybox alone; the cases that need make and cc, or git, say SKIP where
# those are missing (tests/SKIPS.md).
# Usage: run_test.sh FSS RUN_PROBE
set -u
FSS=$1
PROBE=$2
T=$(mktemp -d "${TMPDIR:-/tmp}/fss-run-test.XXXXXX")
trap 'chmod -R u+rwX "$T" 2>/dev/null; rm -rf "$T"' EXIT
R=$T/root
fails=0
# fss run keeps its saved copies outside the root, by default under
# $HOME/.local/state/fss/runs/<root path, '/' written %2F>.
export HOME=$T/home
unset XDG_STATE_HOME FSS_RUN_AREA
AREA=$HOME/.local/state/fss/runs/$(printf '%s' "$T/root" | sed 's/%/%25/g; s|/|%2F|g')

# qemu-user refuses seccomp filters: there `fss run` cannot start, and the
# suite skips with fss's own message (tests/SKIPS.md).
mkdir -p "$T/probe-root"
if ! "$FSS" run --root "$T/probe-root" -- true 2> "$T/probe"; then
  if grep -q 'seccomp user notification unavailable' "$T/probe"; then
    echo "SKIP: $(cat "$T/probe")"
    exit 77
  fi
fi

snap() {  # the whole tree under $R (fss run keeps nothing in it)
  (cd "$R" && "$PROBE" snap) || { echo "FAIL snapshot of $R" >&2; : > "$T/snap-failed"; }
}

undo_failed() { "$FSS" restore --root "$R" > /dev/null 2>&1 || rm -rf "$AREA"; }

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
# A failed case is undone too, so that the next ones start without its
# generation.
case_() {
  name=$1
  shift
  seed
  before=$(snap)
  "$FSS" run --root "$R" -- "$@" > "$T/out" 2>&1
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "FAIL $name: exit $rc"; cat "$T/out"; fails=$((fails + 1)); undo_failed; return
  fi
  if [ "$(snap)" = "$before" ]; then
    echo "FAIL $name: the command changed nothing"; fails=$((fails + 1)); undo_failed; return
  fi
  if [ -e "$R/checkpoint" ] || [ ! -d "$AREA/gen-1" ]; then
    echo "FAIL $name: the saved copies are not in the run area outside the root"; fails=$((fails + 1))
    undo_failed; return
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
if command -v make > /dev/null && command -v cc > /dev/null; then
  case_ make sh -c "$gen_make"
else
  echo "SKIP make: no make and cc here"
fi
if command -v git > /dev/null; then
  case_ git sh -c 'mkdir repo && cd repo && git init -q && echo x > f && git add f &&
    git -c user.name=t -c user.email=t@t commit -qm one && echo y >> f && git commit -qam two -c user.name=t \
    --author="t <t@t>" 2>/dev/null || git -c user.name=t -c user.email=t@t commit -qam two'
else
  echo "SKIP git: no git here"
fi
OUTLINK=$T/outlink
export OUTLINK AREA
ln -sf "$R/d/b" "$OUTLINK"
case_ escape "$PROBE" escape
# Descriptors handed over each way (docs/fss.md, "fss run"): with
# SECCOMP_ADDFD_FLAG_SEND alone, which 6.1 has (so the probe finds it there),
# and the pre-5.14 install-then-answer path, forced. The escape probe writes
# "via-out" into d/b through $OUTLINK, then the shell appends to it.
for mode in send install; do
  FSS_RUN_ADDFD=$mode
  export FSS_RUN_ADDFD
  case_ addfd-$mode sh -c '"$0" escape && echo one > a && exec 3>> d/b && echo two >&3 && exec 3>&- &&
    [ "$(cat a)" = one ] && [ "$(cat d/b)" = via-outtwo ] && [ "$(cat file)" = raw ] &&
    [ "$(head -c 6 mapped)" = MAPPED ]' "$PROBE"
  unset FSS_RUN_ADDFD
done
# A caller with no free descriptor number gets EMFILE, on either way of
# handing descriptors over (the supervisor once left it waiting for ever
# where the kernel could not install one).
for mode in send install; do
  FSS_RUN_ADDFD=$mode
  export FSS_RUN_ADDFD
  seed
  timeout 60 "$FSS" run --root "$R" -- "$PROBE" emfile
  rc=$?
  "$FSS" restore --root "$R" > /dev/null 2>&1
  if [ $rc -ne 0 ] || [ -e "$R/emfile" ]; then echo "FAIL emfile-$mode: exit $rc"; fails=$((fails + 1)); else
    echo "ok   emfile-$mode"; fi
  unset FSS_RUN_ADDFD
done
# A way fss run does not know is a usage error, also from the environment.
seed
FSS_RUN_ADDFD=sendall "$FSS" run --root "$R" -- sh -c 'echo x > a' 2> /dev/null
rc=$?
if [ $rc -ne 2 ] || [ "$(cat "$R/a")" != hello ]; then echo "FAIL addfd-unknown: exit $rc"; fails=$((fails + 1)); else
  echo "ok   addfd-unknown"; fi

# Wake-ups on the caller's CPU (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, 6.6):
# `--wake sync` runs where the kernel has the flag and refuses to start
# (exit 1, with the reason) where it does not; `--wake any` never asks.
kernel=$(uname -r | sed 's/^\([0-9]*\)\.\([0-9]*\).*/\1 \2/')
set -- $kernel
if [ "$1" -gt 6 ] || { [ "$1" -eq 6 ] && [ "$2" -ge 6 ]; }; then has_sync=1; else has_sync=0; fi
set --
seed
"$FSS" run --wake sync --root "$R" -- sh -c 'echo s > a' 2> "$T/wake"
rc=$?
if [ $has_sync = 1 ] && { [ $rc -ne 0 ] || [ "$(cat "$R/a")" != s ]; }; then
  echo "FAIL wake-sync: exit $rc on $(uname -r)"; cat "$T/wake"; fails=$((fails + 1))
elif [ $has_sync = 0 ] && { [ $rc -ne 1 ] || ! grep -q 'no SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP' "$T/wake" ||
                            [ "$(cat "$R/a")" != hello ]; }; then
  echo "FAIL wake-sync: exit $rc on $(uname -r) without the flag"; cat "$T/wake"; fails=$((fails + 1))
else
  echo "ok   wake-sync"; fi
"$FSS" restore --root "$R" > /dev/null 2>&1
for mode in any probe; do
  FSS_RUN_WAKE=$mode
  export FSS_RUN_WAKE
  case_ wake-$mode sh -c 'echo w > a && rm d/b && mkdir w'
  unset FSS_RUN_WAKE
done

# The preload fast path (docs/fss.md): with it, the opens for writing of a
# dynamically linked program come through the channel instead of as
# notifications, with the same results, descriptors and saves; without it
# none does. A program that talks to the channel itself with broken or
# unread messages is cut off, and changes nothing it could not change.
for mode in on off; do
  FSS_RUN_PRELOAD=$mode
  export FSS_RUN_PRELOAD
  case_ preload-$mode "$PROBE" preload
  unset FSS_RUN_PRELOAD
done
seed
"$FSS" run --preload on --stats --root "$R" -- "$PROBE" preload 2> "$T/stats"
rc=$?
channel=$(sed -n 's/.*, \([0-9]*\) through the preload channel$/\1/p' "$T/stats")
"$FSS" restore --root "$R" > /dev/null 2>&1
"$FSS" run --preload off --stats --root "$R" -- "$PROBE" preload 2> "$T/stats"
rc_off=$?
channel_off=$(sed -n 's/.*, \([0-9]*\) through the preload channel$/\1/p' "$T/stats")
"$FSS" restore --root "$R" > /dev/null 2>&1
# 92 opens and 11 unlink, rmdir, unlinkat, utimensat and futimens calls;
# with RLIMIT_NOFILE at 1024 (the guest) the last two opens find the table
# full and take the notified path.
if [ $rc -ne 0 ] || [ $rc_off -ne 0 ] || [ "${channel:-0}" -lt 101 ] || [ "$channel_off" != 0 ]; then
  echo "FAIL preload-used: exit $rc/$rc_off, $channel/$channel_off calls through the channel"; cat "$T/stats"
  fails=$((fails + 1))
else
  echo "ok   preload-used ($channel calls)"; fi
FSS_RUN_PRELOAD=on
export FSS_RUN_PRELOAD
case_ preload-hostile "$PROBE" preload-hostile
unset FSS_RUN_PRELOAD
# A umask call takes only its own process off the kept status (and the fast
# path): a child started after it, which calls none, goes through the channel
# with the mask it inherited (the probe checks its files' modes). Not the
# shell's last command, which busybox would exec in the shell's process.
seed
"$FSS" run --preload on --stats --root "$R" -- sh -c 'umask 077; "$0" preload; exit $?' "$PROBE" 2> "$T/stats"
rc=$?
channel=$(sed -n 's/.*, \([0-9]*\) through the preload channel$/\1/p' "$T/stats")
mode=$(stat -c %a "$R/p-new")
"$FSS" restore --root "$R" > /dev/null 2>&1
if [ $rc -ne 0 ] || [ "${channel:-0}" -lt 90 ] || [ "$mode" != 600 ]; then
  echo "FAIL preload-umask: exit $rc, $channel calls through the channel, mode $mode"; cat "$T/stats"
  fails=$((fails + 1))
else
  echo "ok   preload-umask"; fi

# The caller's umask is kept between calls until it calls umask: then the
# files it creates after take the new one (a kept mask would give a2 0644).
seed
before=$(snap)
"$FSS" run --root "$R" -- sh -c 'umask 022; echo 1 > a1; mkdir d1; umask 077; echo 2 > a2; mkdir d2;
  (umask 002; echo 3 > a3); echo 4 > a4'
modes=$(cd "$R" && stat -c '%n %a' a1 d1 a2 d2 a3 a4 | tr '\n' ' ')
if [ "$modes" != "a1 644 d1 755 a2 600 d2 700 a3 664 a4 600 " ]; then
  echo "FAIL umask: $modes"; fails=$((fails + 1)); undo_failed
else
  "$FSS" restore --root "$R" > /dev/null
  if [ "$(snap)" = "$before" ]; then echo "ok   umask"; else echo "FAIL umask: restore"; fails=$((fails + 1)); fi
fi

# Reading changes nothing, so it saves nothing: directory opens (O_DIRECTORY,
# as ls, find and rm -r make) are no write intent, and leave no generation.
seed
if ! "$FSS" run --root "$R" -- sh -c 'ls -R > /dev/null; find . -type f > /dev/null; cat a d/b > /dev/null'; then
  echo "FAIL read-only: the reads failed"; fails=$((fails + 1))
elif [ -d "$AREA/gen-1" ]; then echo "FAIL read-only: reading saved something"; fails=$((fails + 1)); else
  echo "ok   read-only"; fi

# "file/" is ENOTDIR as in the kernel (the supervisor once stripped the slash
# and wrote the file).
seed
"$FSS" run --root "$R" -- sh -c '(echo x > a/) 2>/dev/null && exit 1; [ "$(cat a)" = hello ]'
if [ $? -eq 0 ]; then echo "ok   trailing-slash"; else echo "FAIL trailing-slash"; fails=$((fails + 1)); fi
"$FSS" restore --root "$R" > /dev/null

# The run area is outside the tree: a program listing the tree does not see
# it, and one that knows where it is cannot change it.
seed
before=$(snap)
"$FSS" run --root "$R" -- sh -c 'echo changed > a; find . > "$0/listing"; echo x > "$1/gen-1/planted";
  rm -rf "$1"; mv "$1/gen-1" "$0/stolen"; ln "$1/.fss.runs.lock" "$0/lock-link"; exit 0' "$T" "$AREA" 2> /dev/null
if grep -q 'fss\|checkpoint' "$T/listing" || [ -e "$AREA/gen-1/planted" ] || [ ! -d "$AREA/gen-1" ] ||
   [ -e "$T/stolen" ] || [ -e "$T/lock-link" ]; then
  echo "FAIL area-outside: the program saw or changed the run area"; fails=$((fails + 1))
else
  "$FSS" restore --root "$R" > /dev/null
  if [ "$(snap)" = "$before" ] && [ ! -d "$AREA/gen-1" ]; then echo "ok   area-outside"; else
    echo "FAIL area-outside: restore"; fails=$((fails + 1)); fi
fi
rm -f "$T/listing"

# Per-run generations: each fss run is undone on its own; one whose paths a
# later run changed again is refused until that one is undone.
seed
before=$(snap)
"$FSS" run --root "$R" -- sh -c 'echo one > a; rm d/e/c' &&
"$FSS" run --root "$R" -- sh -c 'echo two > d/b; mkdir n' &&
"$FSS" run --root "$R" -- sh -c 'true'  # changes nothing: no generation
gens=$("$FSS" status --root "$R" | grep -c '^# generation')
"$FSS" restore --root "$R" --generation 1 > /dev/null
if [ "$gens" != 2 ] || [ "$(cat "$R/a")" != hello ] || [ ! -e "$R/d/e/c" ] || [ "$(cat "$R/d/b")" != two ] ||
   [ ! -d "$R/n" ]; then
  echo "FAIL generations: generation 1 alone (gens=$gens)"; fails=$((fails + 1))
else
  "$FSS" restore --root "$R" --generation 2 > /dev/null
  if [ "$(snap)" = "$before" ]; then echo "ok   generations"; else echo "FAIL generations: generation 2"; fails=$((fails + 1)); fi
fi
"$FSS" run --root "$R" -- sh -c 'echo x > a' && "$FSS" run --root "$R" -- sh -c 'echo y > a; echo z > other'
if "$FSS" restore --root "$R" --generation 1 > /dev/null 2>&1 || [ "$(cat "$R/a")" != y ]; then
  echo "FAIL generation-conflict: undone under a later run"; fails=$((fails + 1))
else
  "$FSS" restore --root "$R" > /dev/null
  if [ "$(snap)" = "$before" ]; then echo "ok   generation-conflict"; else
    echo "FAIL generation-conflict: restore of all"; fails=$((fails + 1)); fi
fi

# rm -rf SIGKILLed mid-way: files are saved by moving them into the area and
# their records synced in groups; restore is exact with records unsynced.
seed
mkdir "$R/many" && (cd "$R/many" && seq 3000 | sed 's/^/f/' | xargs touch)
before=$(snap)
"$FSS" run --root "$R" -- rm -rf many > /dev/null 2>&1 &
runpid=$!
n=0
while [ -e "$R/many/f1" ] && [ $n -lt 200 ]; do sleep 0.02; n=$((n + 1)); done
kill -9 $runpid
wait $runpid 2>/dev/null
sleep 0.3
if [ "$(snap)" = "$before" ]; then echo "FAIL killed-mid-rm: nothing removed"; fails=$((fails + 1)); else
  "$FSS" restore --root "$R" > /dev/null
  if [ "$(snap)" = "$before" ]; then echo "ok   killed-mid-rm"; else echo "FAIL killed-mid-rm"; fails=$((fails + 1)); fi
fi

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
made=$(ls "$R" | grep -c '^f[0-9]')
sleep 0.3
if [ ! -e "$R/started" ] || [ -e "$R/a" ] || [ "$(ls "$R" | grep -c '^f[0-9]')" != "$made" ]; then
  echo "FAIL killed-mid-way: the loop did not run, or went on changing the tree"; fails=$((fails + 1))
else
  "$FSS" restore --root "$R" > /dev/null
  if [ "$(snap)" = "$before" ]; then echo "ok   killed-mid-way"; else echo "FAIL killed-mid-way"; fails=$((fails + 1)); fi
fi
kill "$(cat "$T/started.pid")" 2>/dev/null

# A program that changes its uid is refused (EPERM) rather than acting with
# fss run's credentials (checked as root only: others cannot change uid);
# the same creation without fss run succeeds.
if [ "$(id -u)" = 0 ]; then
  seed
  chmod 711 "$T" && chmod 777 "$R"  # nobody may create in the root
  "$FSS" run --root "$R" -- "$PROBE" nobody "$R/nobody"
  rc=$?
  "$PROBE" nobody "$R/direct"
  if [ $rc -ne 3 ] || [ -e "$R/nobody" ] || [ ! -e "$R/direct" ]; then
    echo "FAIL uid-change: exit $rc under fss run"; fails=$((fails + 1))
  else
    echo "ok   uid-change"
  fi
  rm -f "$R/direct" && chmod 755 "$R" && chmod 700 "$T"
else
  echo "SKIP uid-change: not root"
fi

# The exit status is the command's.
seed
"$FSS" run --root "$R" -- sh -c 'exit 7'
[ $? -eq 7 ] && echo "ok   exit-status" || { echo "FAIL exit-status"; fails=$((fails + 1)); }
# --confine refuses changes outside the root, and lets those inside through.
"$FSS" run --root "$R" --confine -- sh -c "echo yes > inside; echo no > '$T/outside'" 2>/dev/null
if [ -e "$T/outside" ] || [ ! -e "$R/inside" ]; then echo "FAIL confine"; fails=$((fails + 1)); else echo "ok   confine"; fi
"$FSS" restore --root "$R" > /dev/null
[ -e "$T/snap-failed" ] && fails=$((fails + 1))
[ $fails -eq 0 ] || { echo "$fails case(s) failed"; exit 1; }
