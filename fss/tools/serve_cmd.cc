// SPDX-License-Identifier: MIT
// `fssd ARGS` and `fss serve ARGS`: parse the options, run the server until
// SIGINT or SIGTERM.
#include <csignal>
#include <cstdio>
#include <string>

#include "cli.h"
#include "rams/version.h"
#include "server.h"

namespace {

rams::fss::Server* g_server = nullptr;

void OnSignal(int) {
  if (g_server != nullptr) g_server->Stop();
}

}  // namespace

namespace rams::fss {

void AddServeOptions(CLI::App& app, ServerOptions& options) {
  app.add_option("--root", options.root, "the directory tree to serve")->required();
  app.add_option("--socket", options.socket_path,
                 "the listening socket (default: ROOT/CHECKPOINT-DIR/.fss.sock)");
  app.add_option("--checkpoint-dir", options.checkpoint_name,
                 "the checkpoint area, a directory in ROOT")
      ->capture_default_str();
  app.add_option("--max-clients", options.max_clients, "connected clients at most")
      ->capture_default_str();
  app.add_option("--max-open-files", options.limits.max_open_files, "open files per client at most")
      ->capture_default_str();
  app.add_flag("--no-realtime{false}", options.realtime, "do not ask for SCHED_FIFO at start");
  app.add_flag("--allow-other-users", options.allow_other_users,
               "serve clients of other uids (default: only this uid and root)");
}

int Serve(const ServerOptions& options) {
  Server server(options);
  g_server = &server;
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  Status s = server.Run();
  g_server = nullptr;
  if (!s.ok()) {
    fprintf(stderr, "fssd: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}

int ParseOrExit(CLI::App& app, int argc, char** argv, bool* done) {
  AddVersionFlag(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    *done = true;
    return app.exit(e) == 0 ? 0 : 2;  // --help, --version: 0; usage errors: 2
  }
  *done = false;
  return 0;
}

void AddVersionFlag(CLI::App& app) {
  const std::string line = app.get_name() + " " + RAMS_VERSION_STRING;
  app.set_version_flag("--version", line, "print the version and exit");
}

}  // namespace rams::fss
