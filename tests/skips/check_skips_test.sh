#!/bin/bash
# SPDX-License-Identifier: MIT
# scripts/check-skips accepts skips listed in a SKIPS.md and refuses others,
# for ctest's JUnit files and for kernel-suite serial logs.
#   check_skips_test.sh PATH_TO_CHECK_SKIPS
set -u
check="$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
passed=0; failed=0
expect() {  # CODE DESCRIPTION -- ARGS...
  local code="$1" what="$2"; shift 3
  "$check" "$@" --skips "$dir/SKIPS.md" >"$dir/out" 2>&1
  local rc=$?
  if [ "$rc" -eq "$code" ]; then passed=$((passed + 1))
  else failed=$((failed + 1)); echo "FAIL: $what: exit $rc, want $code"; cat "$dir/out"; fi
}

cat >"$dir/SKIPS.md" <<'MD'
| suite | test | the skip message contains | why |
|-------|------|---------------------------|-----|
| * | `Backends/*` | `backend 'kernel' is not available` | no module on the host |
| arm64-qemu-user | `RobustTest.*` | `set_robust_list is ENOSYS` | qemu-user |
| kernel-arm64 | `wait_test` | `no futex_waitv` | old kernel |
MD
junit() {  # NAME MESSAGE: a JUnit file with one passing and one skipped test
  cat >"$dir/r.xml" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="t" tests="2">
  <testcase name="Ok.Test" classname="Ok.Test" status="run"><system-out>ok</system-out></testcase>
  <testcase name="$1" classname="$1" status="notrun"><skipped message="SKIP_REGULAR_EXPRESSION_MATCHED"/>
    <system-out>[ RUN      ] $1
x.cc:1: Skipped
$2
[  SKIPPED ] $1 (0 ms)</system-out></testcase>
</testsuite>
XML
}

junit "Backends/MutexTest.X/kernel" "backend 'kernel' is not available: open /dev/rams"
expect 0 "a listed skip passes" -- native "$dir/r.xml"
junit "Backends/MutexTest.X/posix" "frobnicator missing"
expect 1 "a skip for an unlisted reason fails" -- native "$dir/r.xml"
grep -q "frobnicator missing" "$dir/out" && passed=$((passed + 1)) ||
  { failed=$((failed + 1)); echo "FAIL: the unlisted reason is not printed"; cat "$dir/out"; }
junit "RobustTest.OwnerDies" "qemu-user: set_robust_list is ENOSYS"
expect 0 "a suite-specific row covers its suite" -- arm64-qemu-user "$dir/r.xml"
expect 1 "a suite-specific row does not cover another suite" -- native "$dir/r.xml"
junit "OtherTest.OwnerDies" "qemu-user: set_robust_list is ENOSYS"
expect 1 "the test pattern must match" -- arm64-qemu-user "$dir/r.xml"

printf '%s\n' 'RAMS-TEST insmod PASS' '[wait_test] SKIP: no futex_waitv here' 'RAMS-TEST wait_test SKIP' \
  >"$dir/serial.log"
expect 0 "a listed kernel-suite skip passes" -- kernel-arm64 "$dir/serial.log"
expect 1 "the same skip in another kernel suite fails" -- kernel-amd64 "$dir/serial.log"
printf '%s\n' '[mmap_test] SKIP: whatever' 'RAMS-TEST mmap_test SKIP' >"$dir/serial.log"
expect 1 "an unlisted kernel-suite skip fails" -- kernel-arm64 "$dir/serial.log"
expect 1 "an unreadable results file fails" -- native "$dir/missing.xml"

# The project's own table parses, and every row has all four columns.
printf '%s\n' '<testsuite><testcase name="Ok.Test" status="run"/></testsuite>' >"$dir/none.xml"
"$check" native "$dir/none.xml" --skips "$(dirname "$0")/../SKIPS.md" >"$dir/out" 2>&1 &&
  passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: tests/SKIPS.md:"; cat "$dir/out"; }
printf '%s\n' '| suite | test | reason | why |' '| * | `A.*` | | no reason given |' >"$dir/SKIPS.md"
expect 1 "a row without a reason is refused" -- native "$dir/none.xml"

echo "check_skips: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
