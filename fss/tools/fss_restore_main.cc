// SPDX-License-Identifier: MIT
// fss-restore ROOT [--checkpoint-dir NAME]: puts ROOT back to its checkpoint
// while fssd is stopped (or after it died). Idempotent; shows progress on a
// terminal.
#include <cstdio>
#include <string>

#include "cli.h"

int main(int argc, char** argv) {
  CLI::App app{"fss-restore: puts ROOT back to its checkpoint while fssd is stopped", "fss-restore"};
  rams::fss::CliTarget target;
  std::string positional_root;
  app.add_option("ROOT", positional_root, "the served directory tree");
  app.add_option("--root", target.root, "the same, as an option");
  app.add_option("--checkpoint-dir", target.checkpoint_name, "the checkpoint area in ROOT")
      ->capture_default_str();
  bool done = false;
  int rc = rams::fss::ParseOrExit(app, argc, argv, &done);
  if (done) return rc;
  if (target.root.empty()) target.root = positional_root;
  if (target.root.empty() || (!positional_root.empty() && positional_root != target.root)) {
    fprintf(stderr, "fss-restore: give ROOT once (see --help)\n");
    return 2;
  }
  return rams::fss::RunRestore(target, /*via_server=*/false);
}
