// Sync primitives against their peers, all in one run (issue 3 §5):
//  - two-process blocking ping-pong, rams Mutex+CondVar (no spinning) vs
//    glibc's process-shared pthread mutex+cond (anchor; goal <= 0.8) and vs
//    a raw futex ping-pong (the floor; goal <= 1.3); pipe and Unix socket
//    round trips beside them;
//  - the same with spin-then-park vs a pipe round trip (goal >= 10x faster,
//    i.e. ratio <= 0.1);
//  - uncontended lock+unlock vs a robust process-shared pthread mutex
//    (goal <= 1.0);
//  - a contended counter with 2, 4, 8 and 20 processes vs a process-shared
//    pthread mutex (throughput, goal >= 1.0), with fairness (max/min
//    acquisitions per process);
//  - crash recovery: from SIGKILL of a holder to the parked waiter's lock,
//    median and maximum over RAMS_BENCH_KILLS kills (default 10,000), vs a
//    robust pthread mutex (the kernel's robust list).
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "rams/condvar.h"
#include "rams/mutex.h"
#include "rams/segment.h"
#include "report.h"

namespace {

using rams::bench::Emit;
using rams::bench::Median;
using Clock = std::chrono::steady_clock;

constexpr int kReps = 5;
constexpr size_t kRegionBytes = 1 << 20;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// Shared memory for one measure: a rams segment (so the rams objects live
// where they would in real use) or, for the anchors, anonymous shared memory.
struct Region {
  std::byte* base = nullptr;
  std::optional<rams::Segment> segment;
  std::string name;
  bool anonymous = false;

  static Region Rams() {
    Region r;
    r.name = "rams-bench-sync-" + std::to_string(getpid());
    auto seg = rams::Segment::Create(r.name, kRegionBytes, 0600, true);
    if (!seg.ok()) {
      fprintf(stderr, "%s\n", seg.status().ToString().c_str());
      exit(1);
    }
    r.segment.emplace(std::move(*seg));
    r.base = r.segment->Map()->data();
    return r;
  }
  static Region Anonymous() {
    Region r;
    r.anonymous = true;
    void* p = mmap(nullptr, kRegionBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) exit(1);
    r.base = static_cast<std::byte*>(p);
    return r;
  }
  void Release() {
    if (anonymous) munmap(base, kRegionBytes);
    segment.reset();
    if (!name.empty()) rams::Segment::Remove(name).IgnoreError();
  }
};

// ---- ping-pong ----

// One side of a ping-pong: runs `rounds` exchanges as side 0 or 1.
using Side = std::function<void(int side, int rounds)>;

// Round-trip time in microseconds: a child plays side 1, we play side 0,
// warm up, then time `rounds` exchanges.
double RoundTripUs(const Side& play, int rounds) {
  pid_t child = fork();
  if (child == 0) {
    play(1, rounds * 2);
    _exit(0);
  }
  play(0, rounds);  // warm-up
  auto t0 = Clock::now();
  play(0, rounds);
  double us = Seconds(t0) / rounds * 1e6;
  waitpid(child, nullptr, 0);
  return us;
}

struct RamsPingPong {
  rams::Mutex mu;
  rams::CondVar cv;
  uint32_t turn = 0;
};

double RamsRoundTripUs(uint32_t spin, int rounds) {
  rams::SyncTuning tuning = rams::GetSyncTuning();
  rams::SyncTuning t = tuning;
  t.spin_iterations = spin;
  rams::SetSyncTuning(t);
  Region region = Region::Rams();
  auto* pp = new (region.base) RamsPingPong();
  double us = RoundTripUs(
      [pp](int side, int n) {
        for (int i = 0; i < n; ++i) {
          (void)pp->mu.Lock();
          while (pp->turn != static_cast<uint32_t>(side)) (void)pp->cv.Wait(pp->mu);
          pp->turn = 1 - side;
          pp->mu.Unlock();
          pp->cv.Signal();
        }
      },
      rounds);
  region.Release();
  rams::SetSyncTuning(tuning);
  return us;
}

struct PthreadPingPong {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint32_t turn;
};

double PthreadRoundTripUs(int rounds) {
  Region region = Region::Anonymous();
  auto* pp = reinterpret_cast<PthreadPingPong*>(region.base);
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
  pthread_mutex_init(&pp->mu, &ma);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
  pthread_cond_init(&pp->cv, &ca);
  pp->turn = 0;
  double us = RoundTripUs(
      [pp](int side, int n) {
        for (int i = 0; i < n; ++i) {
          pthread_mutex_lock(&pp->mu);
          while (pp->turn != static_cast<uint32_t>(side)) pthread_cond_wait(&pp->cv, &pp->mu);
          pp->turn = 1 - side;
          pthread_mutex_unlock(&pp->mu);
          pthread_cond_signal(&pp->cv);
        }
      },
      rounds);
  region.Release();
  return us;
}

long Futex(std::atomic<uint32_t>* word, int op, uint32_t value) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op, value, nullptr, nullptr, 0);
}

double FutexRoundTripUs(int rounds) {
  Region region = Region::Anonymous();
  auto* turn = new (region.base) std::atomic<uint32_t>(0);
  double us = RoundTripUs(
      [turn](int side, int n) {
        auto me = static_cast<uint32_t>(side);
        for (int i = 0; i < n; ++i) {
          uint32_t t;
          while ((t = turn->load(std::memory_order_acquire)) != me) Futex(turn, FUTEX_WAIT, t);
          turn->store(1 - me, std::memory_order_release);
          Futex(turn, FUTEX_WAKE, 1);
        }
      },
      rounds);
  region.Release();
  return us;
}

// A byte bounced through two pipes, or through a Unix socket pair.
double FdRoundTripUs(bool socket, int rounds) {
  int out[2], in[2];  // per side: where it writes, where it reads
  std::vector<int> all;
  if (socket) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 0;
    out[0] = in[0] = sv[0];
    out[1] = in[1] = sv[1];
    all = {sv[0], sv[1]};
  } else {
    int a[2], b[2];
    if (pipe(a) != 0 || pipe(b) != 0) return 0;
    out[0] = a[1], in[1] = a[0];
    out[1] = b[1], in[0] = b[0];
    all = {a[0], a[1], b[0], b[1]};
  }
  double us = RoundTripUs(
      [&](int side, int n) {
        char c = 0;
        for (int i = 0; i < n; ++i) {
          if (side == 0) {
            (void)!write(out[0], &c, 1);
            (void)!read(in[0], &c, 1);
          } else {
            (void)!read(in[1], &c, 1);
            (void)!write(out[1], &c, 1);
          }
        }
      },
      rounds);
  for (int fd : all) close(fd);
  return us;
}

// ---- uncontended ----

void InitPthreadMutex(pthread_mutex_t* mu, bool robust) {
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
  if (robust) pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(mu, &ma);
}

// Median ns per lock+unlock pair, rams and robust pthread measured in turns
// so that both see the same background load.
std::pair<double, double> UncontendedNs(int iterations) {
  Region mine = Region::Rams();
  Region theirs = Region::Anonymous();
  auto* mu = new (mine.base) rams::Mutex();
  auto* pmu = reinterpret_cast<pthread_mutex_t*>(theirs.base);
  InitPthreadMutex(pmu, /*robust=*/true);
  std::vector<double> a, b;
  for (int r = 0; r < 2 * kReps + 1; ++r) {
    auto t0 = Clock::now();
    for (int i = 0; i < iterations; ++i) {
      (void)mu->Lock();
      mu->Unlock();
    }
    a.push_back(Seconds(t0) / iterations * 1e9);
    t0 = Clock::now();
    for (int i = 0; i < iterations; ++i) {
      pthread_mutex_lock(pmu);
      pthread_mutex_unlock(pmu);
    }
    b.push_back(Seconds(t0) / iterations * 1e9);
  }
  mine.Release();
  theirs.Release();
  return {Median(a), Median(b)};
}

// ---- contended counter ----

struct Counted {
  double per_second = 0;
  double fairness = 0;  // max / min acquisitions per process
};

constexpr int kMaxProcesses = 20;

struct CounterBoard {
  std::atomic<uint32_t> ready{0};
  std::atomic<uint32_t> go{0};
  std::atomic<uint32_t> stop{0};
  uint64_t counter = 0;
  uint64_t per_process[kMaxProcesses] = {};
  alignas(64) std::byte lock[64];  // the mutex under test
};

// `processes` children increment one counter under the lock for `seconds`.
Counted Count(int processes, double seconds, const std::function<void(std::byte*)>& lock,
              const std::function<void(std::byte*)>& unlock, CounterBoard* board) {
  std::vector<pid_t> children;
  for (int p = 0; p < processes; ++p) {
    pid_t c = fork();
    if (c == 0) {
      board->ready.fetch_add(1);
      while (board->go.load() == 0) sched_yield();
      uint64_t mine = 0;
      while (board->stop.load(std::memory_order_relaxed) == 0) {
        lock(board->lock);
        ++board->counter;
        unlock(board->lock);
        ++mine;
      }
      board->per_process[p] = mine;
      _exit(0);
    }
    children.push_back(c);
  }
  while (board->ready.load() < static_cast<uint32_t>(processes)) usleep(100);
  auto t0 = Clock::now();
  board->go.store(1);
  usleep(static_cast<useconds_t>(seconds * 1e6));
  board->stop.store(1);
  for (pid_t c : children) waitpid(c, nullptr, 0);
  double elapsed = Seconds(t0);
  uint64_t total = 0, most = 0, least = ~uint64_t{0};
  for (int p = 0; p < processes; ++p) {
    total += board->per_process[p];
    most = std::max(most, board->per_process[p]);
    least = std::min(least, board->per_process[p]);
  }
  Counted c;
  c.per_second = double(total) / elapsed;
  c.fairness = least == 0 ? double(most) : double(most) / double(least);
  if (board->counter != total) {
    fprintf(stderr, "counter %llu != acquisitions %llu: exclusion broken\n",
            (unsigned long long)board->counter, (unsigned long long)total);
    exit(1);
  }
  return c;
}

Counted CountOnce(int processes, bool use_rams) {
  Region region = use_rams ? Region::Rams() : Region::Anonymous();
  auto* board = new (region.base) CounterBoard();
  Counted c;
  if (use_rams) {
    new (board->lock) rams::Mutex();
    c = Count(processes, 0.2,
              [](std::byte* l) { (void)std::launder(reinterpret_cast<rams::Mutex*>(l))->Lock(); },
              [](std::byte* l) { std::launder(reinterpret_cast<rams::Mutex*>(l))->Unlock(); },
              board);
  } else {
    InitPthreadMutex(reinterpret_cast<pthread_mutex_t*>(board->lock), /*robust=*/false);
    c = Count(processes, 0.2,
              [](std::byte* l) { pthread_mutex_lock(reinterpret_cast<pthread_mutex_t*>(l)); },
              [](std::byte* l) { pthread_mutex_unlock(reinterpret_cast<pthread_mutex_t*>(l)); },
              board);
  }
  region.Release();
  return c;
}

// Medians over runs that alternate rams and pthread.
std::pair<Counted, Counted> MedianCounts(int processes) {
  std::vector<double> rate[2], fairness[2];
  for (int r = 0; r < kReps; ++r) {
    for (int k = 0; k < 2; ++k) {
      Counted c = CountOnce(processes, k == 0);
      rate[k].push_back(c.per_second);
      fairness[k].push_back(c.fairness);
    }
  }
  return {Counted{Median(rate[0]), Median(fairness[0])},
          Counted{Median(rate[1]), Median(fairness[1])}};
}

// ---- crash recovery ----

struct RecoveryBoard {
  std::atomic<uint32_t> holder_ready{0};  // iteration whose holder holds
  std::atomic<uint32_t> waiting{0};       // iteration the waiter is locking for
  std::atomic<uint32_t> done{0};          // iteration the waiter finished
  std::atomic<int64_t> locked_ns{0};      // when the waiter got the lock
  std::atomic<uint32_t> bad{0};           // a lock without the death report
  alignas(64) std::byte lock[64];
};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// Kills a holder `kills` times while a waiter is parked; returns the
// microseconds from kill() to the waiter holding the lock, sorted.
std::vector<double> Recoveries(int kills, bool use_rams) {
  Region region = use_rams ? Region::Rams() : Region::Anonymous();
  auto* board = new (region.base) RecoveryBoard();
  auto* rmu = use_rams ? new (board->lock) rams::Mutex() : nullptr;
  auto* pmu = reinterpret_cast<pthread_mutex_t*>(board->lock);
  if (!use_rams) InitPthreadMutex(pmu, /*robust=*/true);
  // Lock: true when the previous holder was reported dead (then repaired).
  auto lock = [&]() -> bool {
    if (use_rams) {
      auto r = rmu->Lock();
      if (r.ok() && *r == rams::Acquired::kOwnerDied) {
        rmu->MarkConsistent();
        return true;
      }
      return false;
    }
    if (pthread_mutex_lock(pmu) == EOWNERDEAD) {
      pthread_mutex_consistent(pmu);
      return true;
    }
    return false;
  };
  auto unlock = [&] { use_rams ? rmu->Unlock() : (void)pthread_mutex_unlock(pmu); };
  pid_t waiter = fork();
  if (waiter == 0) {
    for (uint32_t k = 1; k <= static_cast<uint32_t>(kills); ++k) {
      while (board->holder_ready.load() != k) sched_yield();
      board->waiting.store(k);
      bool reported = lock();
      board->locked_ns.store(NowNs());
      if (!reported) board->bad.fetch_add(1);
      unlock();
      board->done.store(k);
    }
    _exit(0);
  }
  std::minstd_rand rng(42);
  std::vector<double> us;
  for (uint32_t k = 1; k <= static_cast<uint32_t>(kills); ++k) {
    pid_t holder = fork();
    if (holder == 0) {
      lock();
      board->holder_ready.store(k);
      pause();
      _exit(0);
    }
    while (board->waiting.load() != k) sched_yield();
    usleep(200 + rng() % 1800);  // the waiter parks
    int64_t killed = NowNs();
    kill(holder, SIGKILL);
    waitpid(holder, nullptr, 0);
    while (board->done.load() != k) sched_yield();
    us.push_back(double(board->locked_ns.load() - killed) / 1e3);
  }
  waitpid(waiter, nullptr, 0);
  if (board->bad.load() != 0) fprintf(stderr, "%u kills went unreported\n", board->bad.load());
  region.Release();
  std::sort(us.begin(), us.end());
  return us;
}

bool PingPong() {
  // The variants take turns, several times, and each reports its median:
  // the machine's background load then weighs on all of them alike.
  const int rounds = 10000;
  std::vector<double> pthread_us, futex_us, pipe_us, socket_us, rams_us, rams_spin_us;
  for (int r = 0; r < 2 * kReps + 1; ++r) {
    pthread_us.push_back(PthreadRoundTripUs(rounds));
    rams_us.push_back(RamsRoundTripUs(0, rounds));
    futex_us.push_back(FutexRoundTripUs(rounds));
    pipe_us.push_back(FdRoundTripUs(false, rounds));
    socket_us.push_back(FdRoundTripUs(true, rounds));
    rams_spin_us.push_back(RamsRoundTripUs(20000, rounds));
  }
  const std::string pthread_anchor = "pthread pshared mutex+cond";
  bool ok = true;
  ok &= Emit({"sync_pingpong_blocking", Median(rams_us), "us", pthread_anchor, Median(pthread_us),
              "<= 0.8"});
  ok &= Emit({"sync_pingpong_blocking_vs_futex", Median(rams_us), "us", "raw futex ping-pong",
              Median(futex_us), "<= 1.3"});
  ok &= Emit({"sync_pingpong_pipe", Median(pipe_us), "us", pthread_anchor, Median(pthread_us), ""});
  ok &= Emit({"sync_pingpong_unix_socket", Median(socket_us), "us", pthread_anchor,
              Median(pthread_us), ""});
  ok &= Emit({"sync_pingpong_spin", Median(rams_spin_us), "us", "pipe round trip", Median(pipe_us),
              "<= 0.1"});
  return ok;
}

bool Counters() {
  bool ok = true;
  for (int processes : {2, 4, 8, 20}) {
    auto [mine, theirs] = MedianCounts(processes);
    std::string n = "sync_counter_" + std::to_string(processes) + "p";
    ok &= Emit({n, mine.per_second / 1e6, "Mops/s", "pthread pshared mutex", theirs.per_second / 1e6,
                ">= 1.0"});
    ok &= Emit({n + "_fairness", mine.fairness, "max/min", "pthread pshared mutex", theirs.fairness,
                ""});
  }
  return ok;
}

bool Recovery() {
  bool ok = true;
  const char* env = getenv("RAMS_BENCH_KILLS");
  int kills = env != nullptr ? atoi(env) : 10000;
  std::vector<double> mine = Recoveries(kills, true);
  std::vector<double> theirs = Recoveries(std::max(1, kills / 10), false);
  if (!mine.empty() && !theirs.empty()) {
    ok &= Emit({"sync_recovery_median", Median(mine), "us", "robust pthread mutex (kernel list)",
                Median(theirs), ""});
    ok &= Emit({"sync_recovery_max", mine.back(), "us", "robust pthread mutex (kernel list)",
                theirs.back(), ""});
  }
  return ok;
}

}  // namespace

// RAMS_BENCH_ONLY=pingpong|uncontended|counter|recovery runs one group.
static bool Selected(const char* group) {
  const char* only = getenv("RAMS_BENCH_ONLY");
  return only == nullptr || *only == '\0' || std::string(only) == group;
}

int main() {
  bool ok = true;
  if (Selected("pingpong")) ok &= PingPong();
  if (Selected("uncontended")) {
    auto [mine_ns, theirs_ns] = UncontendedNs(2'000'000);
    ok &= Emit({"sync_uncontended_lock_unlock", mine_ns, "ns", "robust pshared pthread mutex",
                theirs_ns, "<= 1.0"});
  }
  if (Selected("counter")) ok &= Counters();
  if (Selected("recovery")) ok &= Recovery();
  return ok ? 0 : 1;
}

