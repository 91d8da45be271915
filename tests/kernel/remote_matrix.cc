// SPDX-License-Identifier: MIT
// The cross-host matrix multiplication of remote_ramsd_test.sh: processes on
// two hosts map one remote segment ("HOST:PORT/NAME") through /dev/rams
// (librams' kernel backend with a remote name), multiply 256 x 256 matrices
// of doubles, add their rows' sums to a total and count under a rams::Mutex,
// and meet at a rams::Barrier; every process attaches on its own.
//
//   remote_matrix init NAME             places the barrier and mutex, fills A and B
//   remote_matrix party NAME FIRST N    runs parties FIRST..FIRST+N-1 (of kProcs)
//   remote_matrix check NAME            checks C, the total and the count
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "matrix_party.h"

namespace {

constexpr int kProcs = 20;
constexpr int kN = 256;
constexpr int kModulus = 100;
constexpr int kCounts = 10;  // increments of `count` per party

// The barrier, the mutex and the matrices on pages of their own.
struct Shared {
  alignas(4096) rams::Barrier barrier{kProcs};
  alignas(4096) rams::Mutex mutex;
  double total = 0;    // guarded by mutex
  uint64_t count = 0;  // guarded by mutex
  alignas(4096) double a[kN][kN];
  double b[kN][kN];
  double c[kN][kN];
};

rams::Backend* Kernel() {
  auto backend = rams::BackendByName("kernel");
  if (!backend.ok()) {
    std::fprintf(stderr, "%s\n", backend.status().ToString().c_str());
    std::exit(1);
  }
  return *backend;
}

int Init(const char* name) {
  auto seg = rams::Segment::Open(name, {}, Kernel());
  REQUIRE(seg.ok(), seg.status().ToString().c_str());
  REQUIRE(seg->size() >= sizeof(Shared), "the segment is too small");
  auto bytes = seg->Map();
  REQUIRE(bytes.ok(), bytes.status().ToString().c_str());
  auto* s = new (bytes->data()) Shared;
  matrix::FillInputs(s->a, s->b, kModulus);
  return 0;
}

// One party: rows id, id+kProcs, ... of C, then kCounts increments of the count.
int Party(const char* name, int id) {
  return matrix::Party<Shared>(name, Kernel(), [id](Shared& s, rams::Mutex& mutex) {
    const double rows_sum = matrix::MultiplyRows(s.a, s.b, s.c, id, kProcs);
    for (int n = 0; n < kCounts; ++n) {
      auto held = mutex.Lock();
      REQUIRE(held.ok() && *held == rams::Acquired::kClean, "lock the mutex");
      uint64_t v = s.count;
      sched_yield();  // widen the window a broken mutex would lose updates in
      s.count = v + 1;
      if (n == 0) s.total += rows_sum;
      mutex.Unlock();
    }
    return 0;
  });
}

int Parties(const char* name, int first, int n) {
  REQUIRE(first >= 0 && n > 0 && first + n <= kProcs, "bad party range");
  pid_t pids[kProcs];
  for (int p = 0; p < n; ++p) {
    pids[p] = fork();
    REQUIRE(pids[p] >= 0, "fork");
    if (pids[p] == 0) _exit(Party(name, first + p));
  }
  int rc = 0;
  for (int p = 0; p < n; ++p) {
    int status = 0;
    REQUIRE(waitpid(pids[p], &status, 0) == pids[p], "waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "party %d: %s %d\n", first + p, WIFEXITED(status) ? "exit" : "signal",
                   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
      rc = 1;
    }
  }
  REQUIRE(rc == 0, "a party failed");
  return 0;
}

int Check(const char* name) {
  auto seg = rams::Segment::Open(name, {}, Kernel());
  REQUIRE(seg.ok(), seg.status().ToString().c_str());
  auto bytes = seg->Map();
  REQUIRE(bytes.ok(), bytes.status().ToString().c_str());
  const auto* s = reinterpret_cast<const Shared*>(bytes->data());
  double total = 0;
  REQUIRE(matrix::CheckProduct(s->c, kModulus, &total), "C differs from the product");
  REQUIRE(s->total == total, "the total lost an update");
  REQUIRE(s->count == uint64_t(kProcs) * kCounts, "the count lost an update");
  std::printf("C = A x B (%d x %d doubles) correct; total %.0f and count %llu exact\n", kN, kN,
              total, static_cast<unsigned long long>(s->count));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "init") == 0) return Init(argv[2]);
  if (argc == 3 && std::strcmp(argv[1], "check") == 0) return Check(argv[2]);
  if (argc == 5 && std::strcmp(argv[1], "party") == 0) {
    return Parties(argv[2], std::atoi(argv[3]), std::atoi(argv[4]));
  }
  std::fprintf(stderr, "usage: remote_matrix init|check NAME | party NAME FIRST N\n");
  return 2;
}
