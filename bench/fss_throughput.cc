// SPDX-License-Identifier: MIT
// FSS benchmark (issue 6 §8): per-operation latency (open+close, stat, 4 KiB
// read, 4 KiB write) and 64 KiB / 1 MiB read and write throughput through
// fssd + libfss vs direct syscalls on the same file system (the anchor; goal
// >= 0.5x for 64 KiB writes); the same workload on a bindfs FUSE passthrough
// mount where /dev/fuse and bindfs are usable (goal: FSS faster); and the
// first write to a 256 MiB file, which pays its checkpoint copy, vs `cp` of
// the file (goal <= 1.0x); and another client's longest stat while that first
// write saves the 256 MiB file, vs its longest stat over as long a window
// without a save (issue 11, FSS item 8: a save must not block other clients).
// Built as build/bench/fss_bench by fss/CMakeLists.txt.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "rams/fss.h"
#include "report.h"
#include "server.h"

namespace {

using rams::bench::Emit;
using rams::bench::MedianSeconds;

constexpr int kReps = 7;
constexpr uint64_t kRegion = 64 << 20;

// The operations a workload needs, by FSS or by syscalls on some directory.
struct Ops {
  std::function<int(const char*, int)> open;
  std::function<int(int)> close;
  std::function<int(const char*)> stat;
  std::function<ssize_t(int, void*, size_t, off_t)> pread;
  std::function<ssize_t(int, const void*, size_t, off_t)> pwrite;
};

Ops Direct(const std::string& dir) {
  return {[dir](const char* p, int flags) { return ::open((dir + p).c_str(), flags, 0644); },
          [](int fd) { return ::close(fd); },
          [dir](const char* p) {
            struct stat st;
            return ::stat((dir + p).c_str(), &st);
          },
          [](int fd, void* b, size_t n, off_t o) { return ::pread(fd, b, n, o); },
          [](int fd, const void* b, size_t n, off_t o) { return ::pwrite(fd, b, n, o); }};
}

Ops ThroughFss(fss_client* c) {
  return {[c](const char* p, int flags) { return fss_open(c, p, flags, 0644); },
          [c](int fd) { return fss_close(c, fd); },
          [c](const char* p) {
            struct fss_statbuf st;
            return fss_stat(c, p, &st);
          },
          [c](int fd, void* b, size_t n, off_t o) { return fss_pread(c, fd, b, n, o); },
          [c](int fd, const void* b, size_t n, off_t o) { return fss_pwrite(c, fd, b, n, o); }};
}

struct Figures {
  double open_close_us, stat_us, read4k_us, write4k_us;
  double read64k_mibs, write64k_mibs, read1m_mibs, write1m_mibs;
};

double Us(double seconds, int n) { return seconds / n * 1e6; }
double MiBs(uint64_t bytes, int n, double seconds) { return double(bytes) * n / seconds / (1 << 20); }

Figures Measure(const Ops& ops) {
  Figures f{};
  std::vector<char> buf(1 << 20, 'z');
  int fd = ops.open("/data", O_RDWR);
  if (fd < 0) {
    perror("open /data");
    exit(1);
  }
  constexpr int kSmall = 5000;
  f.open_close_us = Us(MedianSeconds(kReps, [&] {
    for (int i = 0; i < kSmall; ++i) ops.close(ops.open("/small", O_RDONLY));
  }), kSmall);
  f.stat_us = Us(MedianSeconds(kReps, [&] {
    for (int i = 0; i < kSmall; ++i) ops.stat("/small");
  }), kSmall);
  f.read4k_us = Us(MedianSeconds(kReps, [&] {
    for (int i = 0; i < kSmall; ++i) ops.pread(fd, buf.data(), 4096, (i % 1024) * 4096);
  }), kSmall);
  f.write4k_us = Us(MedianSeconds(kReps, [&] {
    for (int i = 0; i < kSmall; ++i) ops.pwrite(fd, buf.data(), 4096, (i % 1024) * 4096);
  }), kSmall);
  auto rate = [&](size_t size, bool write) {
    int n = static_cast<int>(kRegion / size);
    return MiBs(size, n, MedianSeconds(kReps, [&] {
      for (int i = 0; i < n; ++i) {
        write ? (void)ops.pwrite(fd, buf.data(), size, off_t(i) * size)
              : (void)ops.pread(fd, buf.data(), size, off_t(i) * size);
      }
    }));
  };
  f.read64k_mibs = rate(64 << 10, false);
  f.write64k_mibs = rate(64 << 10, true);
  f.read1m_mibs = rate(1 << 20, false);
  f.write1m_mibs = rate(1 << 20, true);
  ops.close(fd);
  return f;
}

bool EmitAll(const std::string& prefix, const Figures& fss, const Figures& anchor, const std::string& anchor_name,
             bool vs_bindfs) {
  std::string lat_goal = vs_bindfs ? "<= 1.0" : "";
  bool ok = true;
  ok &= Emit({prefix + "open_close", fss.open_close_us, "us", anchor_name + "_open_close", anchor.open_close_us, lat_goal});
  ok &= Emit({prefix + "stat", fss.stat_us, "us", anchor_name + "_stat", anchor.stat_us, lat_goal});
  ok &= Emit({prefix + "read_4KiB", fss.read4k_us, "us", anchor_name + "_read_4KiB", anchor.read4k_us, lat_goal});
  ok &= Emit({prefix + "write_4KiB", fss.write4k_us, "us", anchor_name + "_write_4KiB", anchor.write4k_us, lat_goal});
  std::string tp = vs_bindfs ? ">= 1.0" : "";
  ok &= Emit({prefix + "read_64KiB", fss.read64k_mibs, "MiB/s", anchor_name + "_read_64KiB", anchor.read64k_mibs, tp});
  ok &= Emit({prefix + "write_64KiB", fss.write64k_mibs, "MiB/s", anchor_name + "_write_64KiB", anchor.write64k_mibs,
              vs_bindfs ? tp : ">= 0.5"});
  ok &= Emit({prefix + "read_1MiB", fss.read1m_mibs, "MiB/s", anchor_name + "_read_1MiB", anchor.read1m_mibs, tp});
  ok &= Emit({prefix + "write_1MiB", fss.write1m_mibs, "MiB/s", anchor_name + "_write_1MiB", anchor.write1m_mibs, tp});
  return ok;
}

void MakeFile(const std::string& path, uint64_t bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char> buf(1 << 20);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<char>(i * 31 + 7);
  for (uint64_t done = 0; done < bytes; done += buf.size()) {
    if (::write(fd, buf.data(), buf.size()) != ssize_t(buf.size())) exit(1);
  }
  fsync(fd);
  ::close(fd);
}

int Run(const std::vector<std::string>& args) {
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

// bindfs mounted at `mnt` over `src`, unmounted on destruction.
struct BindfsMount {
  std::string mnt;
  bool mounted = false;
  BindfsMount(const std::string& src, const std::string& m) : mnt(m) {
    if (access("/dev/fuse", R_OK | W_OK) != 0) return;
    mkdir(mnt.c_str(), 0755);
    struct stat before, after;
    stat(mnt.c_str(), &before);
    if (Run({"bindfs", "--no-allow-other", src, mnt}) != 0) return;
    for (int i = 0; i < 100 && !mounted; ++i) {
      mounted = stat(mnt.c_str(), &after) == 0 && after.st_dev != before.st_dev;
      if (!mounted) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~BindfsMount() {
    if (mounted && Run({"fusermount", "-u", mnt}) != 0) Run({"umount", mnt});
  }
};

// Client `b`'s longest stat, in ms, while `during` runs in another thread, or
// for `window_s` seconds when `during` is empty.
double LongestStatMs(fss_client* b, const std::function<void()>& during, double window_s) {
  std::atomic<bool> done{false};
  std::thread other;
  if (during) other = std::thread([&] {
    during();
    done.store(true);
  });
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(window_s);
  double worst = 0;
  for (int n = 0; n == 0 || (during ? !done.load() : std::chrono::steady_clock::now() < end); ++n) {
    struct fss_statbuf st;
    auto t0 = std::chrono::steady_clock::now();
    if (fss_stat(b, "/small", &st) != 0) {
      fprintf(stderr, "fss_bench: stat failed\n");
      exit(1);
    }
    worst = std::max(worst, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  if (other.joinable()) other.join();
  return worst * 1e3;
}

}  // namespace

int main() {
  const char* tmp = getenv("TMPDIR");
  std::string base = std::string(tmp ? tmp : "/tmp") + "/fss-bench-" + std::to_string(getpid());
  std::string root = base + "/root", plain = base + "/plain";
  mkdir(base.c_str(), 0755);
  mkdir(root.c_str(), 0755);
  mkdir(plain.c_str(), 0755);
  for (const std::string& dir : {root, plain}) {
    MakeFile(dir + "/data", kRegion);
    MakeFile(dir + "/small", 4096);
  }
  MakeFile(root + "/big", 256ull << 20);
  std::string socket = base + "/fss.sock";
  pid_t server = fork();
  if (server == 0) {
    rams::fss::ServerOptions options;
    options.root = root;
    options.socket_path = socket;
    rams::fss::Server s(options);
    rams::Status st = s.Run();
    _exit(st.ok() ? 0 : 1);
  }
  fss_client* c = nullptr;
  for (int i = 0; i < 500 && c == nullptr; ++i) {
    c = fss_connect(socket.c_str());
    if (c == nullptr) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (c == nullptr) {
    fprintf(stderr, "fss_bench: fssd did not start\n");
    return 1;
  }
  bool ok = true;
  Figures direct = Measure(Direct(plain));
  Figures fss = Measure(ThroughFss(c));
  ok &= EmitAll("fss_", fss, direct, "syscall", false);
  {
    BindfsMount bind(plain, base + "/bindfs");
    if (bind.mounted) {
      Figures fuse = Measure(Direct(bind.mnt));
      ok &= EmitAll("fss_vs_bindfs_", fss, fuse, "bindfs", true);
    } else {
      printf("fss_bench: bindfs not usable here (no /dev/fuse or mount refused): skipping the FUSE comparison\n");
    }
  }
  // The first write to a 256 MiB file pays its checkpoint copy; cp of the file is the anchor.
  std::vector<double> first, cp;
  char block[4096] = {1};
  for (int rep = 0; rep < 3; ++rep) {
    if (fss_commit(c) != 0) ok = false;  // a fresh checkpoint: the next write saves the file
    auto t0 = std::chrono::steady_clock::now();
    int fd = fss_open(c, "/big", O_WRONLY, 0);
    if (fd < 0 || fss_pwrite(c, fd, block, sizeof(block), 0) != ssize_t(sizeof(block))) ok = false;
    fss_close(c, fd);
    first.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    t0 = std::chrono::steady_clock::now();
    if (Run({"cp", root + "/big", base + "/big.copy"}) != 0) ok = false;
    cp.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    unlink((base + "/big.copy").c_str());
  }
  ok &= Emit({"fss_first_write_256MiB", rams::bench::Median(first) * 1e3, "ms", "cp_256MiB",
              rams::bench::Median(cp) * 1e3, "<= 1.0"});
  // Client B's longest stat while client A's first write saves /big, against
  // its longest over an equally long window without a save; interleaved
  // rounds (the quiet window first in odd ones), median of per-round ratios.
  fss_client* b = fss_connect(socket.c_str());
  if (b == nullptr) {
    fprintf(stderr, "fss_bench: second client could not connect\n");
    return 1;
  }
  rams::bench::Record stall{"fss_stat_during_save_256MiB", 0, "ms", "fss_stat_without_save", 0, "<= 2.0"};
  double window_s = 0.2;
  auto save_window = [&] {
    if (fss_commit(c) != 0) ok = false;
    auto t0 = std::chrono::steady_clock::now();
    stall.samples.push_back(LongestStatMs(b, [&] {
      int fd = fss_open(c, "/big", O_WRONLY, 0);
      if (fd < 0 || fss_pwrite(c, fd, block, sizeof(block), 0) != ssize_t(sizeof(block))) ok = false;
      fss_close(c, fd);
    }, 0));
    window_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  auto quiet_window = [&] { stall.anchor_samples.push_back(LongestStatMs(b, nullptr, window_s)); };
  for (int round = 0; round < kReps; ++round) {
    if (round % 2 == 0) {
      save_window();
      quiet_window();
    } else {
      quiet_window();
      save_window();
    }
  }
  stall.value = rams::bench::Median(stall.samples);
  stall.anchor_value = rams::bench::Median(stall.anchor_samples);
  ok &= Emit(stall);
  fss_disconnect(b);
  fss_disconnect(c);
  kill(server, SIGTERM);
  waitpid(server, nullptr, 0);
  Run({"rm", "-rf", base});
  return ok ? 0 : 1;
}
