// SPDX-License-Identifier: MIT
// C = A x B by N processes sharing one segment; checked against a product
// computed by this process alone.
#include <sys/wait.h>
#include <unistd.h>

#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <new>
#include <vector>

#include "demos.h"
#include "matmul.h"
#include "shared_matrices.h"

namespace rams::demo {
namespace {

using namespace rams::matrix;

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

int RunMatmulDemo(Backend* backend, int n, int procs) {
  std::string name = "rams-demo-matmul-" + std::to_string(getpid());
  uint64_t bytes = MatrixSegmentBytes(n);
  printf("matrix multiplication: C = A x B, %dx%d doubles, %d processes, segment %s (%.1f MiB, %s backend)\n",
         n, n, procs, name.c_str(), double(bytes) / (1 << 20), std::string(backend->name()).c_str());
  auto seg = DemoSegment::Create(backend, name, bytes);
  if (!seg) return 1;
  auto view = ViewMatrices(**seg, n);
  if (!view.ok()) {
    fprintf(stderr, "rams-demo: %s\n", view.status().ToString().c_str());
    return 1;
  }
  FillInputs(view->a, view->b, n, 42);
  view->header->n = n;
  view->header->workers = procs;
  new (&view->header->barrier) Barrier(static_cast<uint32_t>(procs));
  view->header->magic = MatrixHeader::kMagic;

  // The reference: this process alone, in private memory.
  std::vector<double> reference(size_t(n) * n);
  auto t0 = Clock::now();
  MultiplyRows(view->a, view->b, reference.data(), n, 0, n);
  double one = Seconds(Clock::now() - t0);

  fflush(stdout);
  t0 = Clock::now();
  std::vector<pid_t> workers;
  for (int p = 0; p < procs; ++p) {
    pid_t pid = fork();
    if (pid == 0) _exit(RunWorker(name, backend, n, p, procs));
    if (pid < 0) {
      perror("rams-demo: fork");
      return 1;
    }
    workers.push_back(pid);
  }
  bool workers_ok = true;
  for (pid_t pid : workers) {
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "rams-demo: worker %d failed (status %d)\n", pid, status);
      workers_ok = false;
    }
  }
  double many = Seconds(Clock::now() - t0);

  size_t wrong = 0;
  for (size_t i = 0; i < reference.size(); ++i) wrong += view->c[i] != reference[i];
  double checksum = std::bit_cast<double>(view->header->checksum_bits.load());
  bool checksum_ok = checksum == Checksum(reference.data(), n);
  printf("  one process:  %8.3f s\n", one);
  printf("  %2d processes: %8.3f s  (speedup %.2fx over one process)\n", procs, many, one / many);
  printf("  elements differing from the single-process product: %zu of %zu; worker checksum %s\n",
         wrong, reference.size(), checksum_ok ? "matches" : "DIFFERS");
  bool ok = workers_ok && wrong == 0 && checksum_ok;
  printf("  result: %s\n", ok ? "correct" : "WRONG");
  return ok ? 0 : 1;
}

}  // namespace rams::demo
