// SPDX-License-Identifier: MIT
// Segment read/write throughput through librams vs pread/pwrite on a
// /dev/shm file (the anchor) and vs memcpy into a mapping, at 64 B, 4 KiB
// and 1 MiB. Goal (issue: foundation): >= 0.9x pread/pwrite at 4 KiB and
// 1 MiB. Each figure and its anchor take turns, 9 rounds, on core 0; the
// ratio is the median of the per-round ratios.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "rams/segment.h"
#include "report.h"

namespace {

using rams::bench::Emit;
using rams::bench::FromPair;
using rams::bench::Interleave;

constexpr int kReps = 9;

struct Size {
  uint64_t bytes;
  const char* label;
  int iterations;
  const char* goal;
};

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

  rams::bench::PinToCpu(0);
  const Size sizes[] = {{64, "64B", 200000, ""}, {4096, "4KiB", 50000, ">= 0.9"},
                        {1 << 20, "1MiB", 300, ">= 0.9"}};
  bool ok = true;
  for (const Size& s : sizes) {
    std::span<std::byte> io(buf.data(), s.bytes);
    auto lib_read = [&] {
      for (int i = 0; i < s.iterations; ++i) (void)seg->Read(0, io);
    };
    auto lib_write = [&] {
      for (int i = 0; i < s.iterations; ++i) (void)seg->Write(0, io);
    };
    auto sys_read = [&] {
      for (int i = 0; i < s.iterations; ++i) (void)!pread(fd, io.data(), s.bytes, 0);
    };
    auto sys_write = [&] {
      for (int i = 0; i < s.iterations; ++i) (void)!pwrite(fd, io.data(), s.bytes, 0);
    };
    auto map_read = [&] {
      for (int i = 0; i < s.iterations; ++i) {
        std::memcpy(io.data(), map->data(), s.bytes);
        asm volatile("" ::: "memory");
      }
    };
    auto map_write = [&] {
      for (int i = 0; i < s.iterations; ++i) {
        std::memcpy(map->data(), io.data(), s.bytes);
        asm volatile("" ::: "memory");
      }
    };
    const std::string l = s.label;
    const auto mibs = [&](double seconds_per_call) { return s.bytes / seconds_per_call / (1 << 20); };
    auto pair = [&](const std::string& measure_name, const std::string& anchor, const char* goal,
                    const std::function<void()>& measure, const std::function<void()>& base) {
      return Emit(FromPair(measure_name + l, "MiB/s", anchor + l, goal,
                           Interleave(kReps, s.iterations, measure, base), mibs, "core 0"));
    };
    ok &= pair("segment_read_", "pread_devshm_", s.goal, lib_read, sys_read);
    ok &= pair("segment_write_", "pwrite_devshm_", s.goal, lib_write, sys_write);
    ok &= pair("mapping_memcpy_read_", "pread_devshm_", "", map_read, sys_read);
    ok &= pair("mapping_memcpy_write_", "pwrite_devshm_", "", map_write, sys_write);
  }
  close(fd);
  (void)rams::Segment::Remove(name);
  return ok ? 0 : 1;
}
