// SPDX-License-Identifier: MIT
// fssd: serves one directory tree to FSS clients, checkpointing every change.
//   fssd --root DIR [--socket PATH] [--checkpoint-dir NAME] [--max-clients N]
//        [--max-open-files N] [--no-realtime] [--allow-other-users]
#include "cli.h"
#include "server.h"

int main(int argc, char** argv) {
  CLI::App app{"fssd: serves one directory tree to FSS clients, checkpointing every change", "fssd"};
  rams::fss::ServerOptions options;
  rams::fss::AddServeOptions(app, options);
  bool done = false;
  int rc = rams::fss::ParseOrExit(app, argc, argv, &done);
  return done ? rc : rams::fss::Serve(options);
}
