// SPDX-License-Identifier: MIT
// 512x512 double matrix multiplication by 1..20 processes sharing a rams
// segment vs the same kernel on as many threads in one process (the anchor).
// Goal (issue: foundation): >= 0.95x threads at every count.
//
// Both sides keep their workers for the whole measure (a process pool that
// attached once, a thread pool) and time rounds between two barriers, so the
// figure compares computing through shared segment memory with computing in
// one address space, not fork(2) with pthread_create(3). The two pools take
// turns round by round (41 rounds each, after a warm-up round); the ratio is
// the median of the per-round ratios.
#include <sys/wait.h>
#include <unistd.h>

#include <barrier>
#include <new>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "matmul.h"
#include "report.h"
#include "shared_matrices.h"

namespace {

using namespace rams::matrix;
using Clock = std::chrono::steady_clock;
constexpr int kN = 512;
int g_rounds = 41;  // + 1 warm-up; 3 in a quick pass

double Gflops(double seconds) { return 2.0 * kN * kN * kN / seconds / 1e9; }

// Times one round: `sync` releases the workers, then waits for them.
template <class Sync>
double TimeRound(Sync&& sync) {
  auto t0 = Clock::now();
  sync();  // start
  sync();  // done
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// A worker process: attaches once, then computes its band every round.
int ProcessWorker(const std::string& name, rams::Backend* backend, int i, int p) {
  auto seg = rams::Segment::Open(name, {}, backend);
  if (!seg.ok()) return 2;
  auto view = ViewMatrices(*seg, kN);
  if (!view.ok()) return 3;
  for (int r = 0; r <= g_rounds; ++r) {
    if (!view->header->barrier.Wait().ok()) return 4;
    MultiplyRows(view->a, view->b, view->c, kN, BandBegin(kN, i, p), BandBegin(kN, i + 1, p));
    if (!view->header->barrier.Wait().ok()) return 5;
  }
  return 0;
}

struct Rounds {
  std::vector<double> threads_s, procs_s;
  rams::bench::Counts threads_counts, procs_counts;  // per round
  bool procs_ok;
};

// Both pools live side by side and take turns, round by round, so that
// whatever else the machine does falls on both alike.
//
// Counters: one set is opened before the threads start, one after them and
// before the fork, so each counts its own pool (the processes once they
// exit) plus the driving thread, which only waits at the barriers.
Rounds Measure(int p, const std::string& name, rams::Backend* backend, MatrixView& view,
                const std::vector<double>& a, const std::vector<double>& b, std::vector<double>& c) {
  rams::bench::Counters thread_counters;
  thread_counters.Start();
  std::barrier sync(p + 1);
  std::vector<std::thread> pool;
  for (int i = 0; i < p; ++i) {
    pool.emplace_back([&, i] {
      for (int r = 0; r <= g_rounds; ++r) {
        sync.arrive_and_wait();
        MultiplyRows(a.data(), b.data(), c.data(), kN, BandBegin(kN, i, p), BandBegin(kN, i + 1, p));
        sync.arrive_and_wait();
      }
    });
  }
  new (&view.header->barrier) rams::Barrier(static_cast<uint32_t>(p + 1));
  rams::bench::Counters process_counters;
  process_counters.Start();
  std::vector<pid_t> kids;
  for (int i = 0; i < p; ++i) {
    pid_t pid = fork();
    if (pid == 0) _exit(ProcessWorker(name, backend, i, p));
    kids.push_back(pid);
  }
  std::vector<double> threads, procs;
  for (int r = 0; r <= g_rounds; ++r) {
    double t = TimeRound([&] { sync.arrive_and_wait(); });
    double q = TimeRound([&] { (void)view.header->barrier.Wait(); });
    if (r == 0) continue;  // warm-up
    threads.push_back(t);
    procs.push_back(q);
  }
  for (auto& t : pool) t.join();
  bool ok = true;
  for (pid_t k : kids) {
    int status = 0;
    waitpid(k, &status, 0);
    ok &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  const double rounds = g_rounds + 1;
  return {threads, procs, thread_counters.Stop().PerOperation(rounds),
          process_counters.Stop().PerOperation(rounds), ok};
}

}  // namespace

int main() {
  std::string name = "rams-bench-matmul-" + std::to_string(getpid());
  auto backend = rams::DefaultBackend();
  if (!backend.ok()) return 1;
  auto seg = rams::Segment::Create(name, MatrixSegmentBytes(kN), 0600, true, *backend);
  if (!seg.ok()) {
    fprintf(stderr, "%s\n", seg.status().ToString().c_str());
    return 1;
  }
  auto view = ViewMatrices(*seg, kN);
  if (!view.ok()) return 1;
  FillInputs(view->a, view->b, kN, 7);
  view->header->magic = MatrixHeader::kMagic;
  view->header->n = kN;
  std::vector<double> a(view->a, view->a + kN * kN), b(view->b, view->b + kN * kN),
      c(size_t(kN) * kN);

  bool ok = true;
  std::vector<int> counts = {1, 2, 4, 8, 16, 20};
  if (rams::bench::Quick()) {
    g_rounds = 3;
    counts = {1, 2, 4};
  }
  for (int p : counts) {
    Rounds m = Measure(p, name, *backend, *view, a, b, c);
    bool run_ok = m.procs_ok;
    for (size_t i = 0; i < c.size() && run_ok; ++i) run_ok = view->c[i] == c[i];
    if (!run_ok) fprintf(stderr, "matmul_bench: %d processes gave a wrong product\n", p);
    ok &= run_ok;
    rams::bench::Record r{"matmul_512_procs_" + std::to_string(p), 0, "GFLOP/s",
                          "matmul_512_threads_" + std::to_string(p), 0, ">= 0.95"};
    for (double t : m.procs_s) r.samples.push_back(Gflops(t));
    for (double t : m.threads_s) r.anchor_samples.push_back(Gflops(t));
    r.value = rams::bench::Median(r.samples);
    r.anchor_value = rams::bench::Median(r.anchor_samples);
    r.counts = m.procs_counts;
    r.anchor_counts = m.threads_counts;
    r.pinning = "unpinned (the scheduler spreads the workers over all cores)";
    ok &= rams::bench::Emit(r);
  }
  (void)rams::Segment::Remove(name, *backend);
  return ok ? 0 : 1;
}
