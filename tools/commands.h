/* SPDX-License-Identifier: MIT */
// The command groups of the `rams` tool. Each Add*Commands registers its
// subcommands on `app`; a subcommand's callback stores its exit code in `rc`.
//
// Thread safety: the tool is single-threaded.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace rams::cli {

struct GlobalOptions {
  std::string backend;  // --backend: "" = default choice
};

// create, ls, info, rm, lock: local segments (cmd_segment.cc).
void AddSegmentCommands(CLI::App& app, GlobalOptions& g, int& rc);
// read, write: local and remote targets (cmd_io.cc).
void AddIoCommands(CLI::App& app, GlobalOptions& g, int& rc);
// stat and ping of a ramsd (cmd_remote.cc).
void AddRemoteCommands(CLI::App& app, GlobalOptions& g, int& rc);

}  // namespace rams::cli
