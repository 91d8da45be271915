/* SPDX-License-Identifier: MIT */
// The commands behind the `fss` CLI, fssd and `fss-restore`: serve, restore, status,
// diff, commit. Each works on a root whose fssd is stopped (taking the
// checkpoint lock itself) and, where it makes sense, through a running fssd
// (restore, commit). They print to stdout/stderr and return an exit code.
//
// Thread safety: call from one thread (they are whole commands).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

namespace rams::fss {

struct CliTarget {
  std::string root;
  std::string checkpoint_name = "checkpoint";
  std::string socket_path;  // "" = the default for root
  std::string run_area;     // fss run's generations; "" = the default (run_area.h)
  uint64_t generation = 0;  // restore: only this fss run (0 = everything)
};

// Puts the tree back to its checkpoint. `via_server`: when fssd holds the
// root, ask it to restore instead of failing.
int RunRestore(const CliTarget& target, bool via_server);
// Lists changed paths: "M path", "A path" (created), "D path" (removed).
int RunStatus(const CliTarget& target);
// Shows how `path` changed (diff -u of the saved original and the file now).
int RunDiff(const CliTarget& target, const std::string& path);
// Accepts the changes and begins a new checkpoint.
int RunCommit(const CliTarget& target);
struct ServerOptions;
// fssd's options (`fssd` and `fss serve`): --root, --socket, --checkpoint-dir,
// --max-clients, --max-open-files, --no-realtime, --allow-other-users.
void AddServeOptions(CLI::App& app, ServerOptions& options);
// Runs fssd until SIGINT or SIGTERM; the exit code.
int Serve(const ServerOptions& options);
// Adds --version ("PROG VERSION") to `app`.
void AddVersionFlag(CLI::App& app);
// Adds --version and parses. Sets *done when the program should exit with the
// returned code: 0 after --help/--version (printed to stdout), 2 on a usage
// error (printed to stderr).
int ParseOrExit(CLI::App& app, int argc, char** argv, bool* done);

}  // namespace rams::fss
