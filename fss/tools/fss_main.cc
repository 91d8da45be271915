// fss: the File-System Server's command line.
//   fss serve --root DIR [fssd options]     run the server (as fssd)
//   fss restore --root DIR                  put the tree back to its checkpoint
//   fss status --root DIR                   list changed paths (M, A, D)
//   fss diff PATH --root DIR                show how PATH changed
//   fss commit --root DIR                   accept the changes, new checkpoint
//   fss checkpoint --root DIR               the same: begin a new checkpoint
// Common options: --checkpoint-dir NAME, --socket PATH.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cli.h"

namespace {

int Usage(int code) {
  fprintf(code == 0 ? stdout : stderr,
          "usage: fss serve --root DIR [fssd options]\n"
          "       fss restore|status|commit|checkpoint --root DIR\n"
          "       fss diff PATH --root DIR\n"
          "options: --checkpoint-dir NAME (default checkpoint), --socket PATH\n"
          "the root defaults to $FSS_ROOT\n");
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage(2);
  std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") return Usage(0);
  if (cmd == "serve") return rams::fss::RunServe(argc - 2, argv + 2);
  rams::fss::CliTarget target;
  if (const char* env = getenv("FSS_ROOT")) target.root = env;
  std::string path;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--root" && i + 1 < argc) {
      target.root = argv[++i];
    } else if (arg == "--checkpoint-dir" && i + 1 < argc) {
      target.checkpoint_name = argv[++i];
    } else if (arg == "--socket" && i + 1 < argc) {
      target.socket_path = argv[++i];
    } else if (!arg.empty() && arg[0] != '-' && path.empty()) {
      path = arg;
    } else {
      return Usage(2);
    }
  }
  if (target.root.empty() && cmd == "restore" && !path.empty()) std::swap(target.root, path);
  if (target.root.empty()) return Usage(2);
  if (cmd == "restore") return rams::fss::RunRestore(target, /*via_server=*/true);
  if (cmd == "status") return rams::fss::RunStatus(target);
  if (cmd == "commit" || cmd == "checkpoint") return rams::fss::RunCommit(target);
  if (cmd == "diff" && !path.empty()) return rams::fss::RunDiff(target, path);
  return Usage(2);
}
