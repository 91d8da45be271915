// SPDX-License-Identifier: MIT
// rams-remote-worker: one worker of rams-remote-demo as a program of its own
// (remote_worker.h), so that the workers can be processes of another system
// than the home's: the Windows build runs under wine beside a Linux home
// (rams-remote-demo --worker-command). Key: the file named by RAMS_KEY_FILE.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>

#include "remote_worker.h"

int main(int argc, char** argv) {
  CLI::App app{"rams-remote-worker: one worker of rams-remote-demo", "rams-remote-worker"};
  std::string host = "127.0.0.1", name;
  uint16_t port = 0;
  int n = 0, index = 0, count = 1;
  app.add_option("--host", host, "ramsd's host")->capture_default_str();
  app.add_option("--port", port, "ramsd's port")->required();
  app.add_option("--name", name, "the exported segment")->required();
  app.add_option("--size", n, "matrix dimension n")->check(CLI::Range(1, 2048))->required();
  app.add_option("--index", index, "this worker's index")->check(CLI::NonNegativeNumber)->required();
  app.add_option("--count", count, "number of workers")->check(CLI::Range(1, 20))->required();
  CLI11_PARSE(app, argc, argv);
  if (index >= count) {
    fprintf(stderr, "rams-remote-worker: --index must be below --count\n");
    return 2;
  }
  rams::RemoteOptions options;
  if (const char* key_file = std::getenv("RAMS_KEY_FILE"); key_file != nullptr && *key_file != 0) {
    auto key = rams::LoadRemoteKey(key_file);
    if (!key.ok()) {
      fprintf(stderr, "rams-remote-worker: %s\n", key.status().ToString().c_str());
      return 2;
    }
    options.key = std::move(*key);
  }
  rams::Status s = rams::demo::RunRemoteWorker(host, port, options, name, n, index, count);
  if (!s.ok()) {
    fprintf(stderr, "rams-remote-worker: worker %d: %s\n", index, s.ToString().c_str());
    return 1;
  }
  return 0;
}
