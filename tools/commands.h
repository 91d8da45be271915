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

void AddSegmentCommands(CLI::App& app, GlobalOptions& g, int& rc);
// stat and ping of a ramsd (cmd_remote.cc).
void AddRemoteCommands(CLI::App& app, GlobalOptions& g, int& rc);

}  // namespace rams::cli
