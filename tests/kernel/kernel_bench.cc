// SPDX-License-Identifier: MIT
// The kernel backend's benchmark, run inside the QEMU guest in one go (the
// CPU is emulated, so only the ratios mean something):
//  - Segment Read/Write through /dev/rams at 4 KiB and 1 MiB vs pread/pwrite
//    on a tmpfs file (anchor); goal >= 0.8x.
//  - rams::Mutex on a kernel-backend segment vs on a posix-backend segment
//    (anchor): the uncontended Lock+Unlock round trip, and Lock+Unlock
//    contended by 2 processes (losers park in the backend); goal <= 1.5x.
//  - a WaitWord/WakeWord ping-pong between 2 processes, kernel vs posix
//    (informational: the module's hashed wait queues vs the futex).
//  - Lock with a 1 ms timeout on a held range until ETIMEDOUT, kernel vs posix
//    (informational: the module's hrtimer vs the posix backend's timed wait).
// Records are JSON files in $RAMS_BENCH_DIR (bench/report.h). Exits 77 when
// /dev/rams is absent.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <functional>
#include <cstdio>
#include <new>
#include <string>
#include <vector>

#include "rams/backend.h"
#include "rams/mutex.h"
#include "rams/segment.h"
#include "rams/wait.h"
#include "report.h"

namespace {

using rams::bench::Emit;

constexpr int kReps = 7;
constexpr int kIoReps = 11;
constexpr uint64_t kRegion = 2 << 20;

double MiBPerSecond(uint64_t bytes, int iterations, double seconds) {
  return double(bytes) * iterations / seconds / (1 << 20);
}

bool IoBench(rams::Backend* kernel) {
  std::string name = "bench-io-" + std::to_string(getpid());
  auto seg = rams::Segment::Create(name, kRegion, 0600, true, kernel);
  if (!seg.ok()) return fprintf(stderr, "%s\n", seg.status().ToString().c_str()), false;
  std::string path = "/dev/shm/bench-pread-" + std::to_string(getpid());
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0 || ftruncate(fd, kRegion) != 0) return perror(path.c_str()), false;
  unlink(path.c_str());
  std::vector<std::byte> buf(kRegion, std::byte{7});
  // Touch every page once so that no measure pays first-touch allocation.
  if (!seg->Write(0, buf).ok() || pwrite(fd, buf.data(), kRegion, 0) != ssize_t(kRegion)) return false;

  struct Size {
    uint64_t bytes;
    const char* label;
    int iterations;
  };
  bool ok = true;
  for (const Size& s : {Size{4096, "4KiB", 4000}, Size{1 << 20, "1MiB", 40}}) {
    std::span<std::byte> io(buf.data(), s.bytes);
    auto timed = [&](const std::function<void()>& op) {
      auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < s.iterations; ++i) op();
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    // Interleaved, so that drift on the shared host hits all four alike.
    std::vector<double> k_read, k_write, t_read, t_write;
    for (int r = 0; r < kIoReps; ++r) {
      k_read.push_back(timed([&] { (void)seg->Read(0, io); }));
      t_read.push_back(timed([&] { (void)!pread(fd, io.data(), s.bytes, 0); }));
      k_write.push_back(timed([&] { (void)seg->Write(0, io); }));
      t_write.push_back(timed([&] { (void)!pwrite(fd, io.data(), s.bytes, 0); }));
    }
    auto rate = [&](std::vector<double> samples) {
      return MiBPerSecond(s.bytes, s.iterations, rams::bench::Median(std::move(samples)));
    };
    std::string l = s.label;
    ok &= Emit({"kernel_read_" + l, rate(k_read), "MiB/s", "pread_tmpfs_" + l, rate(t_read), ">= 0.8"});
    ok &= Emit({"kernel_write_" + l, rate(k_write), "MiB/s", "pwrite_tmpfs_" + l, rate(t_write),
                ">= 0.8"});
  }
  close(fd);
  (void)rams::Segment::Remove(name, kernel);
  return ok;
}

// Shared state of the sync measures, at the start of a segment.
struct SyncArea {
  rams::Mutex mutex;
  std::atomic<uint32_t> ball{0};  // ping-pong word
  uint64_t counter = 0;           // guarded by mutex
};

// Two processes each take the mutex `rounds` times around a shared counter;
// a loser spins briefly and then parks in the backend's wait. Returns seconds
// for the whole run.
double ContendedMutex(SyncArea* a, int rounds) {
  auto body = [a, rounds] {
    for (int i = 0; i < rounds; ++i) {
      auto held = a->mutex.Lock();
      if (!held.ok()) _exit(3);
      ++a->counter;
      a->mutex.Unlock();
    }
  };
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    body();
    _exit(0);
  }
  body();
  waitpid(pid, nullptr, 0);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// A round trip: this process sets ball to 2i+1 and wakes, the child answers
// with 2i+2. Returns seconds for `rounds` round trips.
double PingPong(SyncArea* a, int rounds) {
  auto play = [a, rounds](uint32_t parity) {
    for (uint32_t v = parity; v < 2u * rounds; v += 2) {
      uint32_t seen;
      // Acquire pairs with the other process's release store below.
      while ((seen = a->ball.load(std::memory_order_acquire)) != v) {
        (void)rams::WaitWord(&a->ball, seen, std::nullopt);
      }
      // Release pairs with the other process's acquire load above.
      a->ball.store(v + 1, std::memory_order_release);
      rams::WakeWord(&a->ball, 1);
    }
  };
  // Relaxed: before fork(), which orders it for the child.
  a->ball.store(0, std::memory_order_relaxed);
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    play(1);
    _exit(0);
  }
  play(0);
  waitpid(pid, nullptr, 0);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double Uncontended(SyncArea* a, int rounds) {
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < rounds; ++i) {
    (void)a->mutex.Lock();
    a->mutex.Unlock();
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Samples of one backend's sync measures.
struct SyncSamples {
  std::vector<double> uncontended_ns, contended_us, pingpong_us;
};

// One segment per backend; the measures alternate between the backends
// within each repetition so that drift on the shared host hits both alike.
bool SyncBench(rams::Backend* kernel, rams::Backend* posix) {
  constexpr int kUncontended = 20000, kContended = 20000, kPingPong = 1000;
  rams::Backend* backends[2] = {kernel, posix};
  std::vector<rams::Segment> segs;
  SyncArea* areas[2];
  SyncSamples samples[2];
  std::string names[2];
  for (int b = 0; b < 2; ++b) {
    names[b] = "bench-sync-" + std::string(backends[b]->name()) + "-" + std::to_string(getpid());
    auto seg = rams::Segment::Create(names[b], 1 << 16, 0600, true, backends[b]);
    if (!seg.ok()) return fprintf(stderr, "%s\n", seg.status().ToString().c_str()), false;
    segs.push_back(std::move(*seg));
    auto bytes = segs.back().Map();
    if (!bytes.ok()) return false;
    areas[b] = new (bytes->data()) SyncArea;
  }
  for (int r = 0; r < kReps; ++r) {
    for (int b = 0; b < 2; ++b) {
      samples[b].uncontended_ns.push_back(Uncontended(areas[b], kUncontended) / kUncontended * 1e9);
      samples[b].contended_us.push_back(ContendedMutex(areas[b], kContended) / (2.0 * kContended) * 1e6);
      samples[b].pingpong_us.push_back(PingPong(areas[b], kPingPong) / kPingPong * 1e6);
    }
  }
  using rams::bench::Median;
  bool ok = true;
  ok &= Emit({"kernel_mutex_uncontended_roundtrip", Median(samples[0].uncontended_ns), "ns",
              "posix_mutex_uncontended_roundtrip", Median(samples[1].uncontended_ns), "<= 1.5"});
  ok &= Emit({"kernel_mutex_contended_roundtrip", Median(samples[0].contended_us), "us",
              "posix_mutex_contended_roundtrip", Median(samples[1].contended_us), "<= 1.5"});
  ok &= Emit({"kernel_wait_wake_pingpong", Median(samples[0].pingpong_us), "us",
              "posix_futex_pingpong", Median(samples[1].pingpong_us), ""});
  for (int b = 0; b < 2; ++b) ok &= rams::Segment::Remove(names[b], backends[b]).ok();
  return ok;
}

// How long a Lock with a 1 ms timeout on a range another handle holds takes
// to give ETIMEDOUT, in microseconds: one sample is the median of 20 calls.
double TimedOutLockUs(rams::Segment& holder_seg, rams::Segment& waiter_seg) {
  auto held = holder_seg.Lock(0, 1);
  if (!held.ok()) return -1;
  std::vector<double> us;
  rams::LockOptions opts;
  opts.timeout = std::chrono::milliseconds(1);
  for (int i = 0; i < 20; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto lock = waiter_seg.Lock(0, 1, opts);
    if (lock.ok() || lock.status().code() != ETIMEDOUT) return -1;
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  return rams::bench::Median(us);
}

// LOCK's timeout on the module's hrtimer vs the posix backend's timed wait
// (informational: how close to the 1 ms asked for each one wakes).
bool LockTimeoutBench(rams::Backend* kernel, rams::Backend* posix) {
  rams::Backend* backends[2] = {kernel, posix};
  std::vector<double> samples[2];
  for (int b = 0; b < 2; ++b) {
    std::string name = "bench-lktime-" + std::string(backends[b]->name()) + "-" + std::to_string(getpid());
    auto holder = rams::Segment::Create(name, 4096, 0600, true, backends[b]);
    if (!holder.ok()) return fprintf(stderr, "%s\n", holder.status().ToString().c_str()), false;
    auto waiter = rams::Segment::Open(name, {}, backends[b]);
    if (!waiter.ok()) return false;
    for (int r = 0; r < kReps; ++r) samples[b].push_back(TimedOutLockUs(*holder, *waiter));
    if (!rams::Segment::Remove(name, backends[b]).ok()) return false;
  }
  for (const auto& v : samples)
    for (double x : v)
      if (x < 0) return fprintf(stderr, "timed lock: no ETIMEDOUT\n"), false;
  return Emit({"kernel_lock_timeout_1ms", rams::bench::Median(samples[0]), "us",
               "posix_lock_timeout_1ms", rams::bench::Median(samples[1]), ""});
}

}  // namespace

int main() {
  auto kernel = rams::BackendByName("kernel");
  if (!kernel.ok()) {
    printf("SKIP: %s\n", kernel.status().ToString().c_str());
    return 77;
  }
  auto posix = rams::BackendByName("posix");
  if (!posix.ok()) return fprintf(stderr, "%s\n", posix.status().ToString().c_str()), 1;
  bool ok = IoBench(*kernel);
  ok = SyncBench(*kernel, *posix) && ok;
  ok = LockTimeoutBench(*kernel, *posix) && ok;
  return ok ? 0 : 1;
}
