// SPDX-License-Identifier: MIT
#include "process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>

#include "metrics.h"
#include "rams/version.h"

namespace ramsd {
namespace {

double Seconds(const timespec& t) { return static_cast<double>(t.tv_sec) + t.tv_nsec / 1e9; }

// Wall-clock time at static initialisation: the process's start, as near as
// user space can tell without parsing /proc/self/stat against the boot time.
const double kStartSeconds = [] {
  timespec t{};
  clock_gettime(CLOCK_REALTIME, &t);
  return Seconds(t);
}();

// /proc/self/fd's entries but ".", ".." and the one opendir holds; -1: unreadable.
long OpenDescriptors() {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  long n = 0;
  while (const dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n - 1;
}

}  // namespace

std::string RenderProcessMetrics() {
  std::string out =
      "# HELP ramsd_build_info ramsd's version (the value is always 1)\n"
      "# TYPE ramsd_build_info gauge\n"
      "ramsd_build_info{version=\"" RAMS_VERSION_STRING "\"} 1\n";
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    const double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    AppendMetric(out, "process_cpu_seconds_total", "counter", "user and system CPU time spent", cpu);
  }
  const long page = sysconf(_SC_PAGESIZE);
  if (FILE* f = fopen("/proc/self/statm", "re")) {
    uint64_t size = 0, resident = 0;
    if (fscanf(f, "%" SCNu64 " %" SCNu64, &size, &resident) == 2 && page > 0) {
      AppendMetric(out, "process_virtual_memory_bytes", "gauge", "virtual memory size",
             static_cast<double>(size) * page);
      AppendMetric(out, "process_resident_memory_bytes", "gauge", "resident memory size",
             static_cast<double>(resident) * page);
    }
    fclose(f);
  }
  if (const long fds = OpenDescriptors(); fds >= 0) {
    AppendMetric(out, "process_open_fds", "gauge", "open file descriptors", static_cast<double>(fds));
  }
  rlimit nofile{};
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY) {
    AppendMetric(out, "process_max_fds", "gauge", "the descriptor limit (RLIMIT_NOFILE)",
           static_cast<double>(nofile.rlim_cur));
  }
  AppendMetric(out, "process_start_time_seconds", "gauge",
         "start time of the process since the Unix epoch", kStartSeconds);
  return out;
}

}  // namespace ramsd
