// SPDX-License-Identifier: MIT
// `rams`: create, inspect, read, write and lock rams segments from the shell.
#include <cstdio>

#include "cli.h"
#include "rams/version.h"
#include "commands.h"

int main(int argc, char** argv) {
  using namespace rams::cli;
#if RAMS_REMOTE_ONLY
  CLI::App app{
      "rams: read and write segments exported by a ramsd (HOST:PORT/NAME), stat and ping it.\n"
      "This is the remote-only client: it has no local segments.",
      "rams"};
#else
  CLI::App app{
      "rams: shared memory segments with range locks and wait/wake.\n"
      "Backend: RAMS_BACKEND=posix|kernel or --backend; default /dev/rams when present, else POSIX shm.\n"
      "HOST:PORT/NAME: straight from that ramsd, or through /dev/rams with the kernel backend named.",
      "rams"};
#endif
  app.footer(kExitCodesHelp);
  app.set_version_flag("--version", "rams " RAMS_VERSION_STRING);
  app.require_subcommand(1);
  GlobalOptions global;
  int rc = kExitOk;
#if !RAMS_REMOTE_ONLY
  app.add_option("--backend", global.backend, "posix or kernel (default: automatic)");
  AddSegmentCommands(app, global, rc);
#endif
  AddIoCommands(app, global, rc);
  AddRemoteCommands(app, global, rc);
  for (CLI::App* sub : app.get_subcommands({})) sub->footer(kExitCodesHelp);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    int out = FinishOutput();
    return code != 0 ? kExitUsage : out;
  }
  const int out = FinishOutput();
  return rc != kExitOk ? rc : out;
}
