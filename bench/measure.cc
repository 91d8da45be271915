// SPDX-License-Identifier: MIT
#include "measure.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <linux/perf_event.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <fstream>

namespace rams::bench {
namespace {

uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// The first line of `path` that starts with `key`, after its ':'.
std::string FieldOf(const char* path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) != 0) continue;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    auto v = line.substr(colon + 1);
    v.erase(0, v.find_first_not_of(" \t"));
    return v;
  }
  return "";
}

struct EventSpec {
  uint32_t type;
  uint64_t config;
};
constexpr EventSpec kSpecs[kEventCount] = {
    {PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK},
    {PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES},
    {PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_MIGRATIONS},
    {PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS},
    {PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES},
    {PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS},
    {PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES},
};

// Opens one event for this process and its future children; kernel time
// too unless perf_event_paranoid refuses it (then user time only).
int OpenEvent(const EventSpec& spec, int* error) {
  for (int exclude_kernel : {0, 1}) {
    perf_event_attr attr{};
    attr.size = sizeof attr;
    attr.type = spec.type;
    attr.config = spec.config;
    attr.disabled = 0;
    attr.inherit = 1;
    attr.exclude_kernel = exclude_kernel;
    attr.exclude_hv = 1;
    long fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
    if (fd >= 0) {
      *error = 0;  // a refusal of kernel time that user time then got
      return int(fd);
    }
    *error = errno;
    if (errno != EACCES && errno != EPERM) break;
  }
  return -1;
}

uint64_t ReadEvent(int fd) {
  uint64_t v = 0;
  if (read(fd, &v, sizeof v) != ssize_t(sizeof v)) return 0;
  return v;
}

#if defined(__x86_64__)
// rdtscp is not on every x86_64 CPU model (QEMU's default TCG model, in
// which the kernel suite runs, lacks it: SIGILL): CPUID 0x80000001 EDX bit
// 27 tells; without it, lfence; rdtsc orders the read the same way.
bool HaveRdtscp() {
  static const bool have = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__get_cpuid(0x80000000u, &a, &b, &c, &d) == 0 || a < 0x80000001u) return false;
    if (__get_cpuid(0x80000001u, &a, &b, &c, &d) == 0) return false;
    return (d & (1u << 27)) != 0;
  }();
  return have;
}
#endif

}  // namespace

uint64_t Ticks() {
#if defined(__x86_64__)
  uint32_t lo, hi, aux;
  if (HaveRdtscp()) {
    asm volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
  } else {
    asm volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi)::"memory");
  }
  return (uint64_t(hi) << 32) | lo;
#elif defined(__aarch64__)
  uint64_t v;
  asm volatile("isb; mrs %0, cntvct_el0" : "=r"(v)::"memory");
  return v;
#else
  return MonotonicNs();
#endif
}

const char* TickSource() {
#if defined(__x86_64__)
  return HaveRdtscp() ? "rdtscp" : "lfence+rdtsc";
#elif defined(__aarch64__)
  return "cntvct_el0";
#else
  return "clock_gettime";
#endif
}

double TicksPerSecond() {
  static const double rate = [] {
    // The median of three 20 ms windows: a preemption inside one skews only it.
    std::vector<double> rates;
    for (int i = 0; i < 3; ++i) {
      uint64_t n0 = MonotonicNs(), t0 = Ticks();
      while (MonotonicNs() - n0 < 20'000'000) {
      }
      uint64_t n1 = MonotonicNs(), t1 = Ticks();
      rates.push_back(double(t1 - t0) / (double(n1 - n0) / 1e9));
    }
    std::sort(rates.begin(), rates.end());
    return rates[1];
  }();
  return rate;
}

const char* EventName(int e) {
  static const char* const kNames[kEventCount] = {"task_clock_ns", "context_switches",
                                                  "cpu_migrations", "page_faults", "cycles",
                                                  "instructions", "cache_misses"};
  return kNames[e];
}

Counts& Counts::operator+=(const Counts& other) {
  for (int e = 0; e < kEventCount; ++e) {
    value[e] += other.value[e];
    available[e] = available[e] || other.available[e];
    if (error[e] == 0) error[e] = other.error[e];
  }
  return *this;
}

Counts Counts::PerOperation(double operations) const {
  Counts c = *this;
  for (double& v : c.value) v = operations > 0 ? v / operations : 0;
  return c;
}

Counters::Counters() {
  for (int e = 0; e < kEventCount; ++e) fd_[e] = OpenEvent(kSpecs[e], &error_[e]);
}

Counters::~Counters() {
  for (int fd : fd_) {
    if (fd >= 0) close(fd);
  }
}

void Counters::Start() {
  for (int e = 0; e < kEventCount; ++e) start_[e] = fd_[e] >= 0 ? ReadEvent(fd_[e]) : 0;
}

Counts Counters::Stop() {
  Counts c;
  for (int e = 0; e < kEventCount; ++e) {
    c.available[e] = fd_[e] >= 0;
    c.error[e] = error_[e];
    if (fd_[e] >= 0) c.value[e] = double(ReadEvent(fd_[e]) - start_[e]);
  }
  return c;
}

Spread SpreadOf(std::vector<double> s) {
  std::sort(s.begin(), s.end());
  auto at = [&](double q) {
    double pos = q * double(s.size() - 1);
    size_t lo = size_t(pos);
    size_t hi = std::min(lo + 1, s.size() - 1);
    return s[lo] + (s[hi] - s[lo]) * (pos - double(lo));
  };
  return {s.front(), at(0.25), at(0.5), at(0.75), s.back()};
}

Environment CurrentEnvironment() {
  Environment env;
  const char* commit = getenv("RAMS_BENCH_COMMIT");
  env.commit = commit != nullptr && *commit != '\0' ? commit : "unknown";
  char date[32];
  time_t now = time(nullptr);
  tm utc;
  gmtime_r(&now, &utc);
  strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &utc);
  env.date_utc = date;
  utsname u;
  if (uname(&u) == 0) {
    env.host = u.nodename;
    env.kernel = std::string(u.release) + " " + u.machine;
  }
  env.cpu_model = FieldOf("/proc/cpuinfo", "model name");
  if (env.cpu_model.empty()) env.cpu_model = FieldOf("/proc/cpuinfo", "CPU part");
  env.tick_source = TickSource();
  env.ticks_per_second = TicksPerSecond();
  std::ifstream("/proc/loadavg") >> env.load_average_1min;
  env.cpus = int(sysconf(_SC_NPROCESSORS_ONLN));
  std::ifstream("/proc/sys/kernel/perf_event_paranoid") >> env.perf_event_paranoid;
  return env;
}

bool PinToCpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof set, &set) == 0;
}

}  // namespace rams::bench
