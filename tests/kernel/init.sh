#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# /init of the QEMU guest that tests rams.ko: loads the module, runs every
# test program, prints one "RAMS-TEST <name> PASS|FAIL|SKIP" line each and the
# end marker, then powers off. The host side (scripts/kernel-test) judges.
/bin/busybox --install -s /bin
export PATH=/bin:/tests
echo RAMS-BOOTED  # the host's boot watchdog: the kernel reached /init
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mkdir -p /dev/shm && mount -t tmpfs tmpfs /dev/shm
ip link set lo up  # the tests that start ramsd listen on loopback
echo 1 > /proc/sys/kernel/panic_on_oops
TEST_TIMEOUT=300  # seconds per test program (a hang detector: TCG on a loaded host is slow); the host has its own overall limit
export RAMS_TORTURE_KILLS=40  # librams' sync torture test: kills per primitive (emulated CPU)

result() { # name rc
  case "$2" in
    0) echo "RAMS-TEST $1 PASS" ;;
    77) echo "RAMS-TEST $1 SKIP" ;;
    *) echo "RAMS-TEST $1 FAIL (exit $2)" ;;
  esac
}

if insmod /rams.ko; then
  result insmod 0
else
  result insmod 1
fi

for t in $(cat /tests/order); do
  if [ -x "/tests/$t" ]; then
    start=$(cut -d' ' -f1 /proc/uptime)
    timeout "$TEST_TIMEOUT" "/tests/$t" > /tmp/out 2>&1
    rc=$?
    end=$(cut -d' ' -f1 /proc/uptime)
    kill -9 -1 2>/dev/null  # leftovers of a test that failed or timed out
    sleep 0.2
    sed "s/^/[$t] /" /tmp/out
    echo "[$t] took ${start}..${end}s"
    result "$t" "$rc"
  else
    echo "[$t] missing from the initramfs"
    result "$t" 1
  fi
done

echo "RAMS-TESTS-END"
poweroff -f
