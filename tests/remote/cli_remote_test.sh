#!/bin/bash
# SPDX-License-Identifier: MIT
# The remote commands of `rams`: read/write HOST:PORT/NAME, stat, ping, with
# and without a key, and their exit codes.
#   cli_remote_test.sh PATH_TO_RAMS PATH_TO_RAMSD
set -u
rams="$1"; ramsd="$2"
n="t-rcli-$$"
dir=$(mktemp -d)
passed=0; failed=0
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  "$rams" --backend posix rm "$n" "$n-hidden" >/dev/null 2>&1
  rm -rf "$dir"
}
trap cleanup EXIT
expect() {
  local code="$1" what="$2"; shift 3
  "$@" >"$dir/out" 2>"$dir/err"
  local rc=$?
  if [ "$rc" -eq "$code" ]; then passed=$((passed + 1))
  else failed=$((failed + 1)); echo "FAIL: $what: exit $rc, want $code"; cat "$dir/err"; fi
}
says() {
  if grep -q -- "$2" "$1"; then passed=$((passed + 1))
  else failed=$((failed + 1)); echo "FAIL: $3: no '$2' in: $(cat "$1")"; fi
}
start() {  # start ramsd with extra options; sets pid and port
  rm -f "$dir/port"
  "$ramsd" --listen 127.0.0.1:0 --no-pager --backend posix --export "$n" --log-dir "$dir/log" \
    --port-file "$dir/port" "$@" 2>"$dir/ramsd.err" &
  pid=$!
  for _ in $(seq 200); do [ -s "$dir/port" ] && break; sleep 0.02; done
  read -r port _ <"$dir/port"
}

"$rams" --backend posix create "$n" 64K >/dev/null || exit 1
"$rams" --backend posix create "$n-hidden" 4K >/dev/null || exit 1
start
for c in stat ping; do expect 0 "$c --help" -- "$rams" "$c" --help; done
printf 'hello remote' >"$dir/in"
expect 0 "remote write" -- sh -c "'$rams' write 127.0.0.1:$port/$n 100 <'$dir/in'"
expect 0 "remote read" -- "$rams" read "127.0.0.1:$port/$n" 100 12
says "$dir/out" "hello remote" "read returns what was written"
expect 0 "local read sees it" -- "$rams" --backend posix read "$n" 100 12
says "$dir/out" "hello remote" "local view"
expect 2 "remote read out of bounds" -- "$rams" read "127.0.0.1:$port/$n" 65530 12
expect 3 "unexported segment" -- "$rams" read "127.0.0.1:$port/$n-hidden" 0 4
expect 2 "bad address" -- "$rams" read "127.0.0.1/$n" 0 4
expect 0 "stat" -- "$rams" stat "127.0.0.1:$port"
says "$dir/out" "$n" "stat lists the export"
says "$dir/out" "pages_lost  *0" "stat shows the mapping counters"
says "$dir/out" "host pager:   none" "stat says ramsd runs no pager (--no-pager)"
expect 0 "stat --json" -- "$rams" stat --json "127.0.0.1:$port"
says "$dir/out" '"read_only": false' "json export"
says "$dir/out" '"pages_lost": 0' "json mapping counters"
says "$dir/out" '"pager": null' "json: no pager"
expect 0 "ping" -- "$rams" ping -c 20 "127.0.0.1:$port"
says "$dir/out" "p99" "ping percentiles"
expect 2 "stat with a segment name" -- "$rams" stat "127.0.0.1:$port/$n"
kill "$pid"; wait "$pid"
expect 1 "no server" -- "$rams" ping "127.0.0.1:$port"
printf 'cli-remote-test-key-0123' >"$dir/key"; chmod 600 "$dir/key"
start --key-file "$dir/key"
expect 4 "keyed server without key" -- "$rams" stat "127.0.0.1:$port"
expect 0 "keyed server with RAMS_KEY_FILE" -- env RAMS_KEY_FILE="$dir/key" "$rams" stat "127.0.0.1:$port"

echo "cli remote: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
