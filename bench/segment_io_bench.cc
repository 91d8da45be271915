// SPDX-License-Identifier: MIT
// Segment read/write throughput through librams vs pread/pwrite on a
// /dev/shm file (the anchor) and vs memcpy into a mapping, at 64 B, 4 KiB
// and 1 MiB. Goal (issue: foundation): >= 0.9x pread/pwrite at 4 KiB and
// 1 MiB.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "rams/segment.h"
#include "report.h"

namespace {

using rams::bench::Emit;
using rams::bench::MedianSeconds;

constexpr int kReps = 9;

struct Size {
  uint64_t bytes;
  const char* label;
  int iterations;
  const char* goal;
};

double MiBPerSecond(uint64_t bytes, int iterations, double seconds) {
  return double(bytes) * iterations / seconds / (1 << 20);
}

}  // namespace

int main() {
  constexpr uint64_t kRegion = 2 << 20;
  std::string name = "rams-bench-io-" + std::to_string(getpid());
  auto seg = rams::Segment::Create(name, kRegion, 0600, true);
  if (!seg.ok()) {
    fprintf(stderr, "%s\n", seg.status().ToString().c_str());
    return 1;
  }
  std::string path = "/dev/shm/rams-bench-pread-" + std::to_string(getpid());
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0 || ftruncate(fd, kRegion) != 0) {
    perror(path.c_str());
    return 1;
  }
  unlink(path.c_str());
  auto map = seg->Map();
  if (!map.ok()) return 1;
  std::vector<std::byte> buf(kRegion, std::byte{7});
  // Touch every page once so no measure pays first-touch faults.
  (void)seg->Write(0, buf);
  if (pwrite(fd, buf.data(), kRegion, 0) != ssize_t(kRegion)) return 1;

  const Size sizes[] = {{64, "64B", 200000, ""}, {4096, "4KiB", 50000, ">= 0.9"},
                        {1 << 20, "1MiB", 300, ">= 0.9"}};
  bool ok = true;
  for (const Size& s : sizes) {
    std::span<std::byte> io(buf.data(), s.bytes);
    auto lib_read = MedianSeconds(kReps, [&] {
      for (int i = 0; i < s.iterations; ++i) (void)seg->Read(0, io);
    });
    auto lib_write = MedianSeconds(kReps, [&] {
      for (int i = 0; i < s.iterations; ++i) (void)seg->Write(0, io);
    });
    auto sys_read = MedianSeconds(kReps, [&] {
      for (int i = 0; i < s.iterations; ++i) (void)!pread(fd, io.data(), s.bytes, 0);
    });
    auto sys_write = MedianSeconds(kReps, [&] {
      for (int i = 0; i < s.iterations; ++i) (void)!pwrite(fd, io.data(), s.bytes, 0);
    });
    auto map_read = MedianSeconds(kReps, [&] {
      for (int i = 0; i < s.iterations; ++i) {
        std::memcpy(io.data(), map->data(), s.bytes);
        asm volatile("" ::: "memory");
      }
    });
    auto map_write = MedianSeconds(kReps, [&] {
      for (int i = 0; i < s.iterations; ++i) {
        std::memcpy(map->data(), io.data(), s.bytes);
        asm volatile("" ::: "memory");
      }
    });
    std::string l = s.label;
    double pr = MiBPerSecond(s.bytes, s.iterations, sys_read);
    double pw = MiBPerSecond(s.bytes, s.iterations, sys_write);
    ok &= Emit({"segment_read_" + l, MiBPerSecond(s.bytes, s.iterations, lib_read), "MiB/s",
                "pread_devshm_" + l, pr, s.goal});
    ok &= Emit({"segment_write_" + l, MiBPerSecond(s.bytes, s.iterations, lib_write), "MiB/s",
                "pwrite_devshm_" + l, pw, s.goal});
    ok &= Emit({"mapping_memcpy_read_" + l, MiBPerSecond(s.bytes, s.iterations, map_read), "MiB/s",
                "pread_devshm_" + l, pr, ""});
    ok &= Emit({"mapping_memcpy_write_" + l, MiBPerSecond(s.bytes, s.iterations, map_write),
                "MiB/s", "pwrite_devshm_" + l, pw, ""});
  }
  close(fd);
  (void)rams::Segment::Remove(name);
  return ok ? 0 : 1;
}
