// SPDX-License-Identifier: MIT
// fss: the File-System Server's command line.
//   fss serve --root DIR [fssd options]     run the server (as fssd)
//   fss restore --root DIR [--generation N] put the tree back (fss run generation N only)
//   fss status --root DIR                   list changed paths (M, A, D)
//   fss diff PATH --root DIR                show how PATH changed
//   fss commit --root DIR                   accept the changes, new checkpoint
//   fss checkpoint --root DIR               the same: begin a new checkpoint
//   fss run [--root DIR] [--confine] -- COMMAND...   run COMMAND, its changes saved
// Common options: --checkpoint-dir NAME, --socket PATH; the root defaults to
// $FSS_ROOT.
#include <cstdio>
#include <string>

#include "cli.h"
#include "run.h"
#include "server.h"

namespace {

struct Args {
  rams::fss::CliTarget target;
  rams::fss::ServerOptions serve;
  std::string path;  // diff PATH; restore's ROOT
};

// A command on a root: --root (or $FSS_ROOT), --checkpoint-dir, --socket.
CLI::App* AddRootCommand(CLI::App& app, const char* name, const char* help, Args& a) {
  CLI::App* sub = app.add_subcommand(name, help);
  sub->add_option("--root", a.target.root, "the served directory tree")->envname("FSS_ROOT");
  sub->add_option("--checkpoint-dir", a.target.checkpoint_name, "the checkpoint area in the root")
      ->capture_default_str();
  sub->add_option("--socket", a.target.socket_path, "fssd's socket (default: in the checkpoint area)");
  sub->add_option("--run-area", a.target.run_area, "where fss run keeps its generations (default: see fss(1))")
      ->envname("FSS_RUN_AREA");
  return sub;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fss: the File-System Server's command line", "fss"};
  app.require_subcommand(1);
  Args a;
  CLI::App* serve = app.add_subcommand("serve", "run the server (as fssd)");
  rams::fss::AddServeOptions(*serve, a.serve);
  CLI::App* restore = AddRootCommand(app, "restore", "put the tree back to its checkpoint", a);
  restore->add_option("ROOT", a.path, "the root, instead of --root");
  restore->add_option("--generation", a.target.generation, "undo only this fss run (see fss status)")
      ->check(CLI::PositiveNumber);
  CLI::App* status = AddRootCommand(app, "status", "list changed paths (M, A, D)", a);
  CLI::App* diff = AddRootCommand(app, "diff", "show how PATH changed since the checkpoint", a);
  diff->add_option("PATH", a.path, "a path in the root")->required();
  CLI::App* commit = AddRootCommand(app, "commit", "accept the changes, begin a new checkpoint", a);
  CLI::App* checkpoint = AddRootCommand(app, "checkpoint", "the same as commit", a);
  rams::fss::RunOptions run_opts;
  CLI::App* run = app.add_subcommand("run", "run COMMAND so that fss restore undoes what it changes");
  run->add_option("--root", a.target.root, "the directory tree whose changes are saved")->envname("FSS_ROOT");
  run->add_option("--run-area", a.target.run_area, "where the saved copies go, outside the root (default: see fss(1))")
      ->envname("FSS_RUN_AREA");
  run->add_flag("--confine", run_opts.confine, "refuse changes outside the root (EACCES)");
  std::string addfd = "probe";
  run->add_option("--addfd", addfd,
                  "how opened descriptors reach the program: probe (SECCOMP_ADDFD_FLAG_SEND where the kernel "
                  "has it, else install then answer), send or install (that way only)")
      ->envname("FSS_RUN_ADDFD")
      ->check(CLI::IsMember({"probe", "send", "install"}))
      ->capture_default_str();
  std::string wake = "probe";
  run->add_option("--wake", wake,
                  "how a call wakes fss run and its answer the program: probe (on the waker's CPU, "
                  "SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, where the kernel has it), sync (that way only) or any")
      ->envname("FSS_RUN_WAKE")
      ->check(CLI::IsMember({"probe", "sync", "any"}))
      ->capture_default_str();
  std::string preload = "auto";
  run->add_option("--preload", preload,
                  "the fast path for opens, removals and time changes of dynamically linked programs "
                  "(libfss-preload.so in their LD_PRELOAD): auto (where the library is found), on "
                  "(required) or off")
      ->envname("FSS_RUN_PRELOAD")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  run->add_flag("--stats", run_opts.stats, "at the end, print how many calls came which way");
  run->add_option("COMMAND", run_opts.command, "the command and its arguments (after --)")->required();
  run->prefix_command();
  app.add_subcommand("help", "print this help")->callback([&] { throw CLI::CallForHelp(); });
  bool done = false;
  int rc = rams::fss::ParseOrExit(app, argc, argv, &done);
  if (done) return rc;
  if (serve->parsed()) return rams::fss::Serve(a.serve);
  if (restore->parsed() && a.target.root.empty()) a.target.root = a.path;
  if (a.target.root.empty()) {
    fprintf(stderr, "fss: no root: give --root DIR or set FSS_ROOT (see --help)\n");
    return 2;
  }
  if (run->parsed()) {
    run_opts.target = a.target;
    run_opts.addfd = addfd == "send"      ? rams::fss::AddfdMode::kSend
                     : addfd == "install" ? rams::fss::AddfdMode::kInstall
                                          : rams::fss::AddfdMode::kProbe;
    run_opts.wake = wake == "sync"  ? rams::fss::WakeMode::kSync
                    : wake == "any" ? rams::fss::WakeMode::kAny
                                    : rams::fss::WakeMode::kProbe;
    run_opts.preload = preload == "on"    ? rams::fss::PreloadMode::kOn
                       : preload == "off" ? rams::fss::PreloadMode::kOff
                                          : rams::fss::PreloadMode::kAuto;
    return rams::fss::RunUnder(run_opts);
  }
  if (restore->parsed()) return rams::fss::RunRestore(a.target, /*via_server=*/true);
  if (status->parsed()) return rams::fss::RunStatus(a.target);
  if (diff->parsed()) return rams::fss::RunDiff(a.target, a.path);
  if (commit->parsed() || checkpoint->parsed()) return rams::fss::RunCommit(a.target);
  return 2;
}
