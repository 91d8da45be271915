// SPDX-License-Identifier: MIT
#include "process.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace rams::internal {
namespace {

// Reads the stat file of PID's main thread, /proc/PID/task/PID/stat (the
// same state and start time as /proc/PID/stat, which qemu-user fakes for its
// own process: a live holder would look restarted); returns false when it
// cannot. `state` gets field 3, `start` field 22.
bool ReadStat(pid_t pid, char* state, uint64_t* start) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task/%d/stat", static_cast<int>(pid), static_cast<int>(pid));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[1024];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  // The command name (field 2) may hold spaces and parentheses: fields after
  // it start after the last ')'.
  const char* p = strrchr(buf, ')');
  if (p == nullptr) return false;
  ++p;
  unsigned long long starttime = 0;
  // Fields 3..22: state, then 18 numbers, then starttime.
  int got = sscanf(p,
                   " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                   state, &starttime);
  if (got != 2) return false;
  *start = starttime;
  return true;
}

}  // namespace

uint64_t ProcessStartTime(pid_t pid) {
  char state = 0;
  uint64_t start = 0;
  return ReadStat(pid, &state, &start) ? start : 0;
}

uint64_t SelfStartTime() {
  static thread_local pid_t cached_pid = 0;
  static thread_local uint64_t cached_start = 0;
  pid_t pid = getpid();
  if (pid != cached_pid) {
    cached_start = ProcessStartTime(pid);
    cached_pid = pid;
  }
  return cached_start;
}

bool ProcessAlive(pid_t pid, uint64_t start_time) {
  char state = 0;
  uint64_t start = 0;
  if (!ReadStat(pid, &state, &start)) return false;
  if (state == 'Z' || state == 'X') return false;
  return start == start_time;
}

}  // namespace rams::internal
