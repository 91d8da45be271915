// SPDX-License-Identifier: MIT
// ramsd: serves local rams segments to other hosts over TCP (docs/protocol.md).
//
//   ramsd --listen ADDR:PORT --export NAME[:ro] ... --log-dir DIR
//         [--key-file F] [--config F] [--http ADDR:PORT [--http-public]]
//         [--max-connections N] [--handshake-timeout-ms MS]
//         [--pager-socket PATH | --no-pager] [--pager-key-file F] [--pager-mode MODE]
//         [--map-readahead-pages N] [--map-cache-pages N]
//         [--kernel-channel]
//
// Socket activation: listening sockets passed by the service manager
// (LISTEN_FDS, socket_activation.h) are served instead of --listen/--http.
//
// Exit codes: 0 after a graceful shutdown (SIGTERM, SIGINT), 1 when it could
// not start (bad options, port in use, unreadable key), 2 for usage errors.
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <asio.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <fstream>

#include "host_pager_service.h"
#include "kernel_channel.h"
#include "logging.h"
#include "notify.h"
#include "rams/remote.h"
#include "rams/version.h"
#include "sys/adaptive_poll.h"
#include "wire/auth.h"
#include "server.h"
#include "socket_activation.h"

namespace {

std::string DefaultLogDir() {
  if (geteuid() == 0) return "/var/log/ramsd";
  if (const char* state = std::getenv("XDG_STATE_HOME"); state != nullptr && *state != '\0') {
    return std::string(state) + "/ramsd";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return std::string(home) + "/.local/state/ramsd";
  }
  return "/tmp/ramsd-" + std::to_string(geteuid());
}

// The config file format: TOML/INI with the long option names as keys, at the
// top or in a [ramsd] section (so one file can hold several programs'
// sections); keys of any other section are left for CLI11 to refuse.
class RamsdConfig : public CLI::ConfigTOML {
 public:
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    std::vector<CLI::ConfigItem> parsed = CLI::ConfigTOML::from_config(input);
    std::vector<CLI::ConfigItem> kept;
    for (CLI::ConfigItem& item : parsed) {
      if (item.parents.size() == 1 && item.parents[0] == "ramsd") {
        if (item.name == "++" || item.name == "--") continue;  // section start and end marks
        item.parents.clear();
      }
      kept.push_back(std::move(item));
    }
    return kept;
  }
};

// "NAME" or "NAME:ro" (or ":rw").
rams::Result<ramsd::Export> ParseExport(const std::string& text) {
  ramsd::Export e{.name = text};
  if (auto colon = text.find(':'); colon != std::string::npos) {
    e.name = text.substr(0, colon);
    const std::string mode = text.substr(colon + 1);
    if (mode != "ro" && mode != "rw") return rams::Error(EINVAL, "export '" + text + "': want NAME[:ro]");
    e.read_only = mode == "ro";
  }
  RAMS_RETURN_IF_ERROR(rams::ValidateName(e.name));
  return e;
}

// Writes "PORT HTTP_PORT\n" atomically, for scripts and tests that listen on port 0.
rams::Status WritePortFile(const std::string& path, uint16_t port, uint16_t http_port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << " " << http_port << "\n";
    if (!out) return rams::Error(EIO, "write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return rams::ErrnoError("rename " + tmp);
  return rams::Status::Ok();
}

// "ADDR:PORT" or "[V6]:PORT"; port 0 lets the kernel choose.
bool ParseListenAddress(const std::string& text, std::string* host, uint16_t* port) {
  if (text.size() > 2 && text.compare(text.size() - 2, 2, ":0") == 0) {
    auto a = rams::ParseRemoteAddress(text.substr(0, text.size() - 1) + "1");
    if (!a.ok() || !a->name.empty()) return false;
    *host = a->host;
    *port = 0;
    return true;
  }
  auto a = rams::ParseRemoteAddress(text);
  if (!a.ok() || !a->name.empty()) return false;
  *host = a->host;
  *port = a->port;
  return true;
}

// Reports a start-up failure (to stderr, and to the log once it exists).
int Fail(const rams::Status& s) {
  if (ramsd::LoggingReady()) spdlog::error("{}", s.ToString());  // its stderr sink shows errors
  else std::fprintf(stderr, "ramsd: %s\n", s.ToString().c_str());
  return 1;
}

// The command line as given, before checking.
struct CommandLine {
  std::string listen = "127.0.0.1:7070", http, key_file, log_dir, backend_name, port_file,
      log_level = "info", pager_socket = rams::mapping::kDefaultPagerSocket, pager_key_file,
      pager_mode = "0660", frame_mac = "auto";
  std::vector<std::string> exports;
  uint32_t max_connections = 256;
  uint32_t handshake_timeout_ms = 2000;
  std::string poll = "adaptive";
  uint32_t busy_poll_us = 200;
  uint32_t recall_timeout_ms = 2000;
  uint32_t map_readahead_pages = rams::mapping::kDefaultReadAheadPages;
  uint64_t map_cache_pages = rams::mapping::kDefaultCachePages;
  bool http_public = false;
  bool no_mapping = false;
  bool no_pager = false;
  bool kernel_channel = false;
};

void DefineOptions(CLI::App& app, CommandLine& c) {
  app.set_config("--config", "",
                 "TOML/INI file with any of these options (long names as keys, at the top or in a "
                 "[ramsd] section); an unknown key is an error");
  app.config_formatter(std::make_shared<RamsdConfig>());
  app.allow_config_extras(CLI::config_extras_mode::error);
  app.set_version_flag("--version", "ramsd " RAMS_VERSION_STRING);
  app.add_option("--listen", c.listen, "ADDR:PORT to listen on (non-loopback needs --key-file); unused when the "
                 "service manager passes the socket (LISTEN_FDS)")
      ->capture_default_str();
  app.add_option("--export", c.exports, "NAME[:ro]: a segment to serve (repeatable)")->required();
  app.add_option("--log-dir", c.log_dir,
                 "directory of the rotating log ramsd.log (default: stderr only when it is the "
                 "journal of a service manager, else " + DefaultLogDir() + ")");
  app.add_option("--key-file", c.key_file, "file holding the pre-shared key (16..256 bytes)");
  app.add_option("--frame-mac", c.frame_mac,
                 "per-frame HMAC on keyed sessions: auto (required from non-loopback peers, "
                 "granted to any that asks), require (from every peer; needs --key-file) or "
                 "refuse (never)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "require", "refuse"}));
  app.add_option("--http", c.http, "ADDR:PORT for /health and /metrics (default: none); unused when "
                 "the service manager passes a socket named http");
  app.add_flag("--http-public", c.http_public, "allow --http on a non-loopback address");
  app.add_option("--max-connections", c.max_connections,
                 "limit of sessions past the handshake (connections still in it have their own)")
      ->capture_default_str()->check(CLI::Range(1u, 65536u));
  app.add_option("--handshake-timeout-ms", c.handshake_timeout_ms,
                 "time a new connection has to finish HELLO (and AUTH)")
      ->capture_default_str()->check(CLI::Range(100u, 60000u));
  app.add_option("--poll", c.poll,
                 "how the event loop waits: adaptive (after activity, poll at most 50 us before "
                 "sleeping, and stop polling while it does not pay), busy (poll --busy-poll-us "
                 "after every piece of work: lowest latency, burns a core) or sleep; the "
                 "sessions to homes (host pager, --kernel-channel) and the kernel channel's "
                 "workers wait the same way")
      ->capture_default_str()
      ->check(CLI::IsMember({"adaptive", "busy", "sleep"}));
  app.add_option("--busy-poll-us", c.busy_poll_us,
                 "busy polling's window; given without --poll: N > 0 selects busy, 0 sleep")
      ->capture_default_str();
  app.add_option("--recall-timeout-ms", c.recall_timeout_ms,
                 "remote mapping: a host that leaves an INVALIDATE/DOWNGRADE unanswered this long "
                 "is cut off")
      ->capture_default_str()->check(CLI::Range(10u, 600000u));
  app.add_flag("--no-mapping", c.no_mapping,
               "do not serve remote mapping (PAGE_* opcodes, feature bit 4) to clients");
  app.add_option("--pager-socket", c.pager_socket,
                 "Unix socket of this host's pager for remote mappings ('@name': abstract)")
      ->capture_default_str();
  app.add_flag("--no-pager", c.no_pager, "do not run the host pager (remote Map() gets ENOTSUP)");
  app.add_option("--map-readahead-pages", c.map_readahead_pages,
                 "host pager: pages a sequential read miss asks the home for (1: no read-ahead)")
      ->capture_default_str()->check(CLI::Range(1u, rams::mapping::kMaxReadAheadPages));
  app.add_option("--map-cache-pages", c.map_cache_pages,
                 "host pager: resident 4 KiB pages per mapped segment; past it the oldest page "
                 "is evicted (written back first when dirty)")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, rams::mapping::kMaxCachePages));
  app.add_option("--pager-key-file", c.pager_key_file,
                 "key file for the homes the pager maps from (default: --key-file)");
  app.add_option("--pager-mode", c.pager_mode,
                 "octal mode of pager mappings for ramsd's user and group (root always may)")
      ->capture_default_str();
  app.add_flag("--kernel-channel", c.kernel_channel,
               "hold rams.ko's control channel and serve /dev/rams remote segments "
               "(RAMS_ATTACH_REMOTE) for this host's processes (needs CAP_SYS_ADMIN)");
  app.add_option("--backend", c.backend_name, "segment backend: posix or kernel (default: auto)");
  app.add_option("--port-file", c.port_file, "write 'PORT HTTP_PORT' here once listening");
  app.add_option("--log-level", c.log_level, "trace, debug, info, warn, error, critical or off")
      ->capture_default_str()
      ->check(CLI::IsMember(std::vector<std::string>(std::begin(ramsd::kLogLevels),
                                                     std::end(ramsd::kLogLevels))));
}

// Checks the command line and loads the key; logging is set up.
rams::Result<ramsd::ServerOptions> BuildOptions(const CommandLine& c) {
  ramsd::ServerOptions options{.http_public = c.http_public,
                               .max_connections = c.max_connections,
                               .handshake_timeout = std::chrono::milliseconds(c.handshake_timeout_ms),
                               .mapping = !c.no_mapping,
                               .recall_timeout = std::chrono::milliseconds(c.recall_timeout_ms)};
  if (!ParseListenAddress(c.listen, &options.listen_host, &options.listen_port)) {
    return rams::Error(EINVAL, "--listen '" + c.listen + "': want ADDR:PORT");
  }
  if (!c.http.empty() && !ParseListenAddress(c.http, &options.http_host, &options.http_port)) {
    return rams::Error(EINVAL, "--http '" + c.http + "': want ADDR:PORT");
  }
  for (const std::string& t : c.exports) {
    RAMS_ASSIGN_OR_RETURN(ramsd::Export e, ParseExport(t));
    options.exports.push_back(std::move(e));
  }
  if (!c.key_file.empty()) {
    RAMS_ASSIGN_OR_RETURN(options.key, rams::wire::LoadKeyFile(c.key_file));
    struct stat st{};
    // LoadKeyFile refuses a file others may read; group access is the
    // administrator's choice, but worth a word.
    if (stat(c.key_file.c_str(), &st) == 0 && (st.st_mode & 070) != 0) {
      spdlog::warn("key file {} is accessible by its group", c.key_file);
    }
  }
  options.frame_mac = c.frame_mac == "require"  ? rams::FrameMac::kRequire
                      : c.frame_mac == "refuse" ? rams::FrameMac::kRefuse
                                                : rams::FrameMac::kAuto;
  if (options.frame_mac == rams::FrameMac::kRequire && options.key.empty()) {
    return rams::Error(EINVAL, "--frame-mac require needs --key-file: the MAC is keyed from the "
                               "handshake");
  }
  RAMS_ASSIGN_OR_RETURN(options.backend, c.backend_name.empty()
                                             ? rams::DefaultBackend()
                                             : rams::BackendByName(c.backend_name));
  for (const ramsd::Export& e : options.exports) {
    if (!options.backend->Stat(e.name).ok()) {
      spdlog::warn("export {} does not exist yet; OPEN answers ENOENT until it does", e.name);
    }
  }
  return options;
}

// RemoteOptions::busy_poll of the pager's sessions to the homes: they wait
// for replies as the event loop waits for requests.
std::chrono::microseconds SessionPolling(const CommandLine& c) {
  if (c.poll == "adaptive") return rams::kAdaptivePoll;
  return std::chrono::microseconds(c.poll == "busy" ? c.busy_poll_us : 0);
}

// The host pager's options: its socket, the key for homes, the mode.
rams::Result<ramsd::PagerServiceOptions> PagerOptions(const CommandLine& c) {
  ramsd::PagerServiceOptions o{.socket_path = c.pager_socket,
                               .busy_poll = SessionPolling(c),
                               .readahead_pages = c.map_readahead_pages,
                               .cache_pages = c.map_cache_pages};
  if (o.socket_path.empty()) return rams::Error(EINVAL, "--pager-socket: empty");
  const std::string& key_file = c.pager_key_file.empty() ? c.key_file : c.pager_key_file;
  if (!key_file.empty()) {
    RAMS_ASSIGN_OR_RETURN(o.key, rams::LoadRemoteKey(key_file));
  }
  size_t used = 0;
  unsigned long mode = 0;
  try {
    mode = std::stoul(c.pager_mode, &used, 8);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != c.pager_mode.size() || mode > 0777) {
    return rams::Error(EINVAL, "--pager-mode '" + c.pager_mode + "': want an octal mode");
  }
  o.mode = static_cast<uint32_t>(mode);
  return o;
}

// Runs the event loop until it runs out of work (after a graceful shutdown),
// waiting as --poll says (docs/protocol.md, "Latency modes").
void RunLoop(asio::io_context& io, ramsd::Server& server, const CommandLine& c) {
  using Clock = std::chrono::steady_clock;
  if (c.poll == "sleep") return (void)io.run();
  // While polling, the sessions that just had work are read directly
  // (Server::PollHot), the others through the reactor (io.poll()).
  auto poll = [&] { return io.poll() + server.PollHot(); };
  if (c.poll == "busy") {
    // Polls without sleeping for busy_poll_us after each piece of work.
    const auto busy = std::chrono::microseconds(c.busy_poll_us);
    auto active = Clock::now();
    server.StartHotReads();
    while (!io.stopped()) {
      if (poll() > 0) {
        active = Clock::now();
      } else if (Clock::now() - active > busy) {
        server.CoolHot();
        io.run_one();
        server.StartHotReads();
        active = Clock::now();
      }
    }
    return;
  }
  // Adaptive: sleep until some work, run what is ready, then poll for the
  // next piece as long as the policy allows. Handlers that were ready without
  // waiting (a write's completion after a read's) are no poll.
  rams::sys::AdaptivePoll policy;
  while (io.run_one() > 0) {
    server.StartHotReads();
    for (;;) {
      while (poll() > 0) {
      }
      if (io.stopped()) return;
      const auto budget = policy.Budget();
      if (budget.count() == 0) break;
      const auto until = Clock::now() + budget;
      bool hit = false;
      while (!hit && Clock::now() < until) hit = poll() > 0;
      policy.Record(hit);
      if (!hit) break;
    }
    server.CoolHot();
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ramsd: serves rams segments to other hosts over TCP (see docs/protocol.md)"};
  CommandLine c;
  DefineOptions(app, c);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  // --busy-poll-us alone keeps its meaning from before --poll existed.
  if (app.count("--busy-poll-us") > 0 && app.count("--poll") == 0) {
    c.poll = c.busy_poll_us > 0 ? "busy" : "sleep";
  }
  ramsd::LogOptions log{.dir = c.log_dir, .level = c.log_level};
  if (log.dir.empty() && !ramsd::StderrIsJournal()) log.dir = DefaultLogDir();
  if (rams::Status s = ramsd::SetUpLogging(log); !s.ok()) return Fail(s);
  rams::Result<ramsd::ServerOptions> options = BuildOptions(c);
  if (!options.ok()) return Fail(options.status());
  // Before any thread starts: it unsets LISTEN_*.
  rams::Result<ramsd::InheritedSockets> inherited = ramsd::TakeInheritedSockets();
  if (!inherited.ok()) return Fail(inherited.status());
  options->listen_fd = inherited->listen_fd;
  options->http_fd = inherited->http_fd;
  if (inherited->listen_fd >= 0) {
    spdlog::info("socket activation: serving on the service manager's socket{} (not --listen{})",
                 inherited->http_fd >= 0 ? "s" : "", inherited->http_fd >= 0 ? " or --http" : "");
  }

  std::unique_ptr<ramsd::PagerService> pager;
  if (!c.no_pager) {
    rams::Result<ramsd::PagerServiceOptions> po = PagerOptions(c);
    if (!po.ok()) return Fail(po.status());
    auto started = ramsd::PagerService::Start(std::move(*po));
    if (started.ok()) {
      pager = std::move(*started);
      spdlog::info("host pager at {}", pager->socket_path());
    } else {
      // ramsd still serves its exports; this host's processes cannot map.
      spdlog::warn("no host pager: {}", started.status().ToString());
    }
  }

  std::unique_ptr<ramsd::KernelChannel> kernel_channel;
  if (c.kernel_channel) {
    rams::Result<ramsd::PagerServiceOptions> po = PagerOptions(c);  // the homes' key
    if (!po.ok()) return Fail(po.status());
    auto started = ramsd::KernelChannel::Start({.key = po->key, .busy_poll = po->busy_poll});
    if (!started.ok()) return Fail(started.status());
    kernel_channel = std::move(*started);
    spdlog::info("serving rams.ko's remote segments on its control channel");
  }

  // One thread runs every session's socket operations (Session::io_thread_);
  // other threads only post to it, so the reactor needs no per-socket locks.
  asio::io_context io(ASIO_CONCURRENCY_HINT_UNSAFE_IO);
  ramsd::Server server(io, *options);
  if (pager) {
    server.AddMetrics([&pager] { return pager->RenderPrometheus(); });
    server.SetPagerStat([&pager](rams::wire::MappingStatReply* r) { pager->FillStat(r); });
  }
  if (kernel_channel) {
    server.AddMetrics([&kernel_channel] { return kernel_channel->RenderPrometheus(); });
  }
  if (rams::Status s = server.Listen(); !s.ok()) return Fail(s);
  // SIGHUP reopens the log file (after an external rotation); it never stops ramsd.
  asio::signal_set hangups(io, SIGHUP);
  std::function<void(const std::error_code&, int)> on_hangup = [&](const std::error_code& ec, int) {
    if (ec) return;  // cancelled at shutdown
    if (rams::Status s = ramsd::ReopenLog(); !s.ok()) spdlog::error("SIGHUP: {}", s.ToString());
    else spdlog::info("SIGHUP: log reopened");
    hangups.async_wait(on_hangup);
  };
  hangups.async_wait(on_hangup);
  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const std::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: graceful shutdown", sig);
    ramsd::NotifyServiceManager("STOPPING=1").IgnoreError();
    hangups.cancel();
    server.Shutdown();
  });
  std::signal(SIGPIPE, SIG_IGN);
  spdlog::info("listening on {}:{} ({}), {} exports, http {}",
               inherited->listen_fd >= 0 ? "inherited socket" : options->listen_host, server.port(),
               options->key.empty() ? "no key: loopback only" : "key required",
               options->exports.size(), server.http_port());
  if (!c.port_file.empty()) {
    if (rams::Status s = WritePortFile(c.port_file, server.port(), server.http_port()); !s.ok()) {
      return Fail(s);
    }
  }
  if (rams::Status s = ramsd::NotifyServiceManager("READY=1\nSTATUS=listening on port " +
                                                   std::to_string(server.port()));
      !s.ok()) {
    spdlog::warn("{}", s.ToString());
  }
  RunLoop(io, server, c);
  spdlog::info("exit");
  return 0;
}
