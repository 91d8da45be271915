// SPDX-License-Identifier: MIT
// 20 processes multiply matrices through one mmapped segment of the kernel
// backend, synchronized by rams::Barrier and rams::Mutex (whose wait/wake go
// to the module's WAIT/WAKE through the segment's registered wait range).
// Process 0 creates and fills A and B; every process attaches on its own,
// computes its rows of C = A x B after the first barrier and adds their sum
// to a shared total under the mutex; after the second barrier process 0
// checks C and the total against a private computation.
//
// Runs inside the QEMU guest (tests/kernel); on a machine without /dev/rams
// it exits 77 (skipped) with the reason.
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include <cstdint>
#include <cstdio>
#include <new>
#include <string>

#include "matrix_party.h"

namespace {

constexpr int kProcs = 20;
constexpr int kN = 48;
constexpr int kModulus = 1000;
constexpr char kName[] = "matrix-sync";

struct Shared {
  rams::Barrier barrier{kProcs};
  rams::Mutex mutex;
  uint64_t total = 0;  // guarded by mutex
  uint64_t a[kN][kN];
  uint64_t b[kN][kN];
  uint64_t c[kN][kN];
};

// One party: attach, compute rows id, id+kProcs, ...; returns an exit code.
int Party(int id, rams::Backend* backend) {
  return matrix::Party<Shared>(kName, backend, [id](Shared& s, rams::Mutex& mutex) {
    const uint64_t rows_sum = matrix::MultiplyRows(s.a, s.b, s.c, id, kProcs);
    auto held = mutex.Lock();
    REQUIRE(held.ok() && *held == rams::Acquired::kClean, "lock the mutex");
    uint64_t v = s.total;
    sched_yield();  // widen the window a broken mutex would lose updates in
    s.total = v + rows_sum;
    mutex.Unlock();
    return 0;
  });
}

int Check(Shared* s) {
  uint64_t total = 0;
  REQUIRE(matrix::CheckProduct(s->c, kModulus, &total), "C differs from the product");
  REQUIRE(s->total == total, "the total lost an update");
  return 0;
}

int Run(rams::Backend* backend) {
  auto seg = rams::Segment::Create(kName, sizeof(Shared), 0600, /*exclusive=*/true, backend);
  REQUIRE(seg.ok(), seg.status().ToString().c_str());
  auto bytes = seg->Map();
  REQUIRE(bytes.ok(), bytes.status().ToString().c_str());
  auto* s = new (bytes->data()) Shared;
  matrix::FillInputs(s->a, s->b, kModulus);
  pid_t pids[kProcs];
  for (int p = 1; p < kProcs; ++p) {
    pids[p] = fork();
    REQUIRE(pids[p] >= 0, "fork");
    if (pids[p] == 0) _exit(Party(p, backend));
  }
  int rc = Party(0, backend);
  for (int p = 1; p < kProcs; ++p) {
    int status = 0;
    REQUIRE(waitpid(pids[p], &status, 0) == pids[p], "waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) rc = 1;
  }
  REQUIRE(rc == 0, "a party failed");
  rc = Check(s);
  REQUIRE(rams::Segment::Remove(kName, backend).ok(), "remove the segment");
  return rc;
}

}  // namespace

int main() {
  auto backend = rams::BackendByName("kernel");
  if (!backend.ok()) {
    std::printf("SKIP: %s\n", backend.status().ToString().c_str());
    return 77;
  }
  // With /dev/rams present the kernel backend is the default; RAMS_BACKEND overrides it.
  unsetenv("RAMS_BACKEND");
  auto chosen = rams::DefaultBackend();
  REQUIRE(chosen.ok() && (*chosen)->name() == "kernel", "the default backend is not kernel");
  setenv("RAMS_BACKEND", "posix", 1);
  chosen = rams::DefaultBackend();
  REQUIRE(chosen.ok() && (*chosen)->name() == "posix", "RAMS_BACKEND=posix is not obeyed");
  unsetenv("RAMS_BACKEND");
  return Run(*backend);
}
