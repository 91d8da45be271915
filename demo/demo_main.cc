// SPDX-License-Identifier: MIT
// rams-demo: the main job of `make demo` on one machine.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "demos.h"

int main(int argc, char** argv) {
  CLI::App app{"rams-demo: matrix multiplication shared by N processes through one rams segment, "
               "then the seed's two-process lock sequence. Exits non-zero when a result is wrong.",
               "rams-demo"};
  int procs = 4;
  int n = 1024;
  int lease = 2;
  std::string only;
  std::string backend_name;
  app.add_option("--procs", procs, "worker processes")->check(CLI::Range(1, 20))->capture_default_str();
  app.add_option("--size", n, "matrix dimension n (n x n doubles)")->check(CLI::Range(1, 8192))
      ->capture_default_str();
  app.add_option("--writes", lease, "writes in process 2's lock lease")->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--only", only, "run one part: matmul or seed")->check(CLI::IsMember({"matmul", "seed"}));
  app.add_option("--backend", backend_name, "posix or kernel (default: automatic)");
  CLI11_PARSE(app, argc, argv);

  auto backend = backend_name.empty() ? rams::DefaultBackend() : rams::BackendByName(backend_name);
  if (!backend.ok()) {
    fprintf(stderr, "rams-demo: %s\n", backend.status().ToString().c_str());
    return 1;
  }
  int rc = 0;
  if (only.empty() || only == "matmul") rc |= rams::demo::RunMatmulDemo(*backend, n, procs);
  if (only.empty()) printf("\n");
  if (only.empty() || only == "seed") rc |= rams::demo::RunSeedSequenceDemo(*backend, lease);
  return rc;
}
