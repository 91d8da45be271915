// fss-restore ROOT [--checkpoint-dir NAME]: puts ROOT back to its checkpoint
// while fssd is stopped (or after it died). Idempotent; shows progress on a
// terminal.
#include <cstdio>
#include <string>

#include "cli.h"

int main(int argc, char** argv) {
  rams::fss::CliTarget target;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--checkpoint-dir" && i + 1 < argc) {
      target.checkpoint_name = argv[++i];
    } else if (arg == "--root" && i + 1 < argc) {
      target.root = argv[++i];
    } else if (!arg.empty() && arg[0] != '-' && target.root.empty()) {
      target.root = arg;
    } else {
      fprintf(stderr, "usage: fss-restore ROOT [--checkpoint-dir NAME]\n");
      return 2;
    }
  }
  if (target.root.empty()) {
    fprintf(stderr, "usage: fss-restore ROOT [--checkpoint-dir NAME]\n");
    return 2;
  }
  return rams::fss::RunRestore(target, /*via_server=*/false);
}
