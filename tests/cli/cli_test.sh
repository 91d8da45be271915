#!/bin/bash
# SPDX-License-Identifier: MIT
# The `rams` tool's behaviour, messages and exit codes.
#   cli_test.sh PATH_TO_RAMS [PATH_TO_RAMSD [PATH_TO_FSS PATH_TO_FSSD PATH_TO_FSS_RESTORE]]
set -u
rams="$1"
ramsd="${2:-}"
fss="${3:-}"; fssd="${4:-}"; fss_restore="${5:-}"
n="t-cli-$$"
passed=0; failed=0
out=$(mktemp); err=$(mktemp)
trap 'rm -f "$out" "$err"; "$rams" rm "$n" "$n-b" >/dev/null 2>&1' EXIT

# expect CODE DESCRIPTION -- COMMAND...: runs it, checks the exit code.
expect() {
  local code="$1" what="$2"; shift 3
  "$@" >"$out" 2>"$err" </dev/null
  local rc=$?
  if [ "$rc" -eq "$code" ]; then passed=$((passed + 1))
  else failed=$((failed + 1)); echo "FAIL: $what: exit $rc, want $code"; cat "$err"; fi
}
# says FILE TEXT DESCRIPTION: the file contains TEXT.
says() {
  if grep -q -- "$2" "$1"; then passed=$((passed + 1))
  else failed=$((failed + 1)); echo "FAIL: $3: no '$2' in: $(cat "$1")"; fi
}

expect 0 "help" -- "$rams" --help
says "$out" "Exit codes" "help lists exit codes"
for c in create ls info rm read write lock; do
  expect 0 "$c --help" -- "$rams" "$c" --help
done
expect 2 "no command" -- "$rams"
expect 0 "create" -- "$rams" create "$n" 4K --mode 0640
expect 5 "create --exclusive of an existing one" -- "$rams" create "$n" 4K --exclusive
says "$err" "EEXIST" "exists message"
expect 0 "create again, same size" -- "$rams" create "$n" 4096
expect 2 "create again, other size" -- "$rams" create "$n" 8K
says "$err" "exists with size 4096" "size mismatch message"
expect 2 "bad size" -- "$rams" create "$n-b" 12Q
expect 2 "size 0" -- "$rams" create "$n-b" 0
expect 2 "name with /" -- "$rams" create "a/b" 4K
says "$err" "'/'" "slash message"
expect 2 "bad mode" -- "$rams" create "$n-b" 4K --mode 999

expect 0 "info" -- "$rams" info "$n"
says "$out" "4096 bytes" "info size"
says "$out" "0640" "info mode"
expect 0 "info --json" -- "$rams" info "$n" --json
says "$out" '"size_bytes": 4096' "json size"
expect 0 "ls" -- "$rams" ls
says "$out" "$n" "ls lists it"
expect 0 "ls --json" -- "$rams" ls --json
says "$out" "\"name\": \"$n\"" "ls json"

printf 'hello rams' | "$rams" write "$n" 100
[ $? -eq 0 ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: write"; }
expect 0 "read back" -- "$rams" read "$n" 100 10
[ "$(cat "$out")" = "hello rams" ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: read back gave '$(cat "$out")'"; }
expect 0 "read --hex" -- "$rams" read "$n" 96 16 --hex
says "$out" "00000060  00 00 00 00 68 65 6c 6c  6f 20 72 61" "hex bytes"
says "$out" "|....hello rams..|" "hex ascii"
expect 0 "read all" -- "$rams" read "$n"
[ "$(stat -c %s "$out")" -eq 4096 ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: read all size"; }
expect 2 "read past the end" -- "$rams" read "$n" 4090 100
says "$err" "past the end" "past-the-end message"
head -c 5000 /dev/zero | "$rams" write "$n" 0 2>"$err"
[ $? -eq 2 ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: overlong write"; }
says "$err" "nothing written" "overlong write message"
expect 3 "read missing" -- "$rams" read "$n-missing"
expect 3 "info missing" -- "$rams" info "$n-missing"

# A held lock refuses others' writes; SIGTERM releases it.
"$rams" lock "$n" 0 200 >"$out.lock" 2>&1 &
holder=$!
for _ in $(seq 100); do grep -q locked "$out.lock" 2>/dev/null && break; sleep 0.05; done
says "$out.lock" "locked $n \[0, 200)" "lock message"
printf 'x' | "$rams" write "$n" 10 2>"$err"
[ $? -eq 6 ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: write into a locked range"; }
says "$err" "EBUSY" "busy message"
expect 6 "lock --timeout 0 while held" -- "$rams" lock "$n" 100 10 --timeout 0
expect 0 "info shows the lock" -- "$rams" info "$n"
says "$out" "1 held" "lock count"
kill -TERM "$holder"; wait "$holder"
[ $? -eq 0 ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: lock holder exit"; }
says "$out.lock" "released" "release message"
rm -f "$out.lock"
printf 'x' | "$rams" write "$n" 10
[ $? -eq 0 ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: write after release"; }
expect 0 "lock --hold" -- "$rams" lock "$n" 0 10 --hold 0.1

# Sizes and offsets: decimal ("010" is ten, not octal), suffixes in any case.
expect 0 "create with a leading zero" -- "$rams" create "$n-b" 010
expect 0 "info" -- "$rams" info "$n-b"
says "$out" "10 bytes" "010 is decimal"
expect 0 "rm" -- "$rams" rm "$n-b"
expect 0 "lower-case suffix" -- "$rams" create "$n-b" 1m
expect 0 "info" -- "$rams" info "$n-b"
says "$out" "1048576 bytes" "1m is 1 MiB"
expect 0 "rm" -- "$rams" rm "$n-b"
expect 0 "KiB suffix any case" -- "$rams" create "$n-b" 4kib
expect 0 "rm" -- "$rams" rm "$n-b"
expect 0 "read at offset 010" -- "$rams" read "$n" 0100 10
[ "$(cat "$out")" = "hello rams" ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: offset 0100 is not decimal: '$(cat "$out")'"; }

# The errno name is printed once, also through a wrapping context.
expect 2 "bad offset" -- "$rams" read "$n" 12Q
says "$err" "offset: bad size suffix in '12Q' (use K, M, G or T): EINVAL$" "offset message"
[ "$(grep -o EINVAL "$err" | wc -l)" -eq 1 ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: errno name repeated: $(cat "$err")"; }
expect 2 "bad lock length" -- "$rams" lock "$n" 0 x
says "$err" "length: bad number 'x': EINVAL$" "lock length message"

# An unknown backend and a missing key file are usage errors, not "no such segment".
expect 2 "unknown backend" -- "$rams" --backend bogus ls
says "$err" "unknown backend 'bogus'" "backend message"
RAMS_BACKEND=bogus "$rams" ls >"$out" 2>"$err"
[ $? -eq 2 ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: RAMS_BACKEND=bogus"; }
RAMS_KEY_FILE=/nonexistent/key "$rams" read 127.0.0.1:1/x >"$out" 2>"$err"
[ $? -eq 2 ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: missing key file"; cat "$err"; }
says "$err" "RAMS_KEY_FILE: open key file /nonexistent/key: ENOENT" "key file message"
expect 2 "unknown option" -- "$rams" ls --bogus
# With the kernel backend named, a remote target goes through /dev/rams (no
# key file read, no connection made): ENOTCONN without this host's ramsd on
# the control channel, and the backend's absence where there is no module.
for how in "--backend kernel" "env"; do
  if [ "$how" = env ]; then
    RAMS_BACKEND=kernel RAMS_KEY_FILE=/nonexistent/key "$rams" read 127.0.0.1:1/x >"$out" 2>"$err"
  else
    RAMS_KEY_FILE=/nonexistent/key "$rams" --backend kernel read 127.0.0.1:1/x >"$out" 2>"$err"
  fi
  [ $? -ne 0 ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: kernel read of a remote name ($how) succeeded"; }
  if grep -q RAMS_KEY_FILE "$err"; then failed=$((failed + 1)); echo "FAIL: kernel read of a remote name ($how) read the key file"
  else passed=$((passed + 1)); fi
  if [ -e /dev/rams ]; then says "$err" "open segment 127.0.0.1:1/x: ENOTCONN" "kernel remote read ($how)"
  else says "$err" "backend 'kernel' is not available" "kernel remote read ($how)"; fi
done

# Output that cannot be written is an error.
"$rams" ls >/dev/full 2>"$err"
[ $? -eq 1 ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: ls >/dev/full succeeded"; }
says "$err" "ENOSPC" "full-disk message"
"$rams" info "$n" --json >/dev/full 2>"$err"
[ $? -eq 1 ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: info --json >/dev/full succeeded"; }

# A read-only export can be read remotely (and not written).
if [ -n "$ramsd" ]; then
  logs=$(mktemp -d)
  "$ramsd" --listen 127.0.0.1:0 --no-pager --port-file "$logs/port" --log-dir "$logs" --export "$n:ro" \
    >"$logs/stdout" 2>&1 &
  daemon=$!
  for _ in $(seq 100); do [ -s "$logs/port" ] && break; sleep 0.05; done
  read -r port _ <"$logs/port"
  expect 0 "remote read of a read-only export" -- "$rams" read "127.0.0.1:$port/$n" 100 10
  [ "$(cat "$out")" = "hello rams" ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: remote read gave '$(cat "$out")'"; }
  printf 'x' | "$rams" write "127.0.0.1:$port/$n" 10 2>"$err"
  [ $? -eq 4 ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: remote write to a read-only export"; }
  [ "$(grep -o EROFS "$err" | wc -l)" -eq 1 ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: remote errno name repeated: $(cat "$err")"; }
  kill -TERM "$daemon"; wait "$daemon"
  rm -rf "$logs"
fi

# The fss tools: --help on stdout with exit 0, --version, usage errors exit 2.
if [ -n "$fss" ]; then
  for prog in "$fss" "$fssd" "$fss_restore"; do
    name=$(basename "$prog")
    expect 0 "$name --help" -- "$prog" --help
    says "$out" "Usage" "$name --help on stdout"
    expect 0 "$name --version" -- "$prog" --version
    says "$out" "^$name [0-9][0-9.]*$" "$name --version line"
    expect 2 "$name --bogus" -- "$prog" --bogus
  done
  expect 2 "fss without a command" -- "$fss"
  expect 0 "fss status --help" -- "$fss" status --help
  expect 2 "fss diff without PATH" -- "$fss" diff --root /tmp
  expect 2 "fssd without --root" -- "$fssd"
  expect 2 "fssd --max-clients not a number" -- "$fssd" --root /tmp --max-clients lots
  expect 2 "fss-restore without ROOT" -- "$fss_restore"
  expect 2 "fss status without a root" -- env -u FSS_ROOT "$fss" status
  expect 0 "fss run --help" -- "$fss" run --help
  expect 2 "fss run without a command" -- "$fss" run --root /tmp
  expect 2 "fss run without a root" -- env -u FSS_ROOT "$fss" run -- true
  says "$err" "no root" "no-root message"
fi

expect 0 "rm" -- "$rams" rm "$n"
expect 3 "rm again" -- "$rams" rm "$n"
echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
