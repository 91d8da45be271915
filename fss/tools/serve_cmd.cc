// `fssd ARGS` and `fss serve ARGS`: parse the options, run the server until
// SIGINT or SIGTERM.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cli.h"
#include "server.h"

namespace {

rams::fss::Server* g_server = nullptr;

void OnSignal(int) {
  if (g_server != nullptr) g_server->Stop();
}

int Usage() {
  fprintf(stderr,
          "usage: fssd --root DIR [--socket PATH] [--checkpoint-dir NAME] [--max-clients N]\n"
          "            [--max-open-files N] [--no-realtime] [--allow-other-users]\n");
  return 2;
}

}  // namespace

namespace rams::fss {

int RunServe(int argc, char** argv) {
  rams::fss::ServerOptions options;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (arg == "--root" && (v = value())) {
      options.root = v;
    } else if (arg == "--socket" && (v = value())) {
      options.socket_path = v;
    } else if (arg == "--checkpoint-dir" && (v = value())) {
      options.checkpoint_name = v;
    } else if (arg == "--max-clients" && (v = value())) {
      options.max_clients = static_cast<uint32_t>(strtoul(v, nullptr, 10));
    } else if (arg == "--max-open-files" && (v = value())) {
      options.limits.max_open_files = static_cast<uint32_t>(strtoul(v, nullptr, 10));
    } else if (arg == "--no-realtime") {
      options.realtime = false;
    } else if (arg == "--allow-other-users") {
      options.allow_other_users = true;
    } else if (arg == "--help" || arg == "-h") {
      Usage();
      return 0;
    } else {
      return Usage();
    }
  }
  if (options.root.empty()) return Usage();
  rams::fss::Server server(options);
  g_server = &server;
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  rams::Status s = server.Run();
  g_server = nullptr;
  if (!s.ok()) {
    fprintf(stderr, "fssd: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace rams::fss
