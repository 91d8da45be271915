/* SPDX-License-Identifier: MIT */
// rams::fss::Server: fssd's process-level part. It opens the root and its
// checkpoint, asks for real-time scheduling, listens on a Unix socket and
// gives every accepted client (checked with SO_PEERCRED) its own shared-memory
// channel (a sealed memfd passed over the socket) and server thread; the
// thread serves the client's requests through the FileServer until the client
// disconnects, dies or breaks the protocol. With allow_other_users, the thread
// of another user's client acts with that client's credentials (credentials.h).
//
// Thread safety: Run blocks the calling thread; Stop may be called from any
// thread or a signal handler.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "credentials.h"
#include "file_server.h"
#include "sys/sys.h"
#include "root.h"

namespace rams::fss {

struct ServerOptions {
  std::string root;                    // the served directory
  std::string socket_path;             // "" = <root>/<checkpoint>/.fss.sock
  std::string checkpoint_name = "checkpoint";
  uint32_t max_clients = 64;
  SessionLimits limits;
  bool realtime = true;                // ask for SCHED_FIFO at start
  bool allow_other_users = false;      // else only the server's uid and root; needs root
};

// Where a server for `root` listens by default.
std::string DefaultSocketPath(const std::string& root, const std::string& checkpoint_name);

// Asks for SCHED_FIFO, else the best nice value permitted; returns what it got,
// for the log ("SCHED_FIFO priority 10", "SCHED_OTHER nice -5").
std::string RequestPriority();

// Descriptors fssd may need beyond each client's open files: its socket,
// channel and the transient ones of path operations and saves; and for
// itself (listening socket, root, checkpoint area, journal, logs).
inline constexpr uint32_t kDescriptorsPerClient = 16;
inline constexpr uint32_t kDescriptorsForServer = 256;

// What RLIMIT_NOFILE must be for `options`' clients all to reach their quota:
// max_clients x (max_open_files + kDescriptorsPerClient) + kDescriptorsForServer
// (64 x (256 + 16) + 256 = 17664 by default).
uint64_t DescriptorsNeeded(const ServerOptions& options);

// Raises the soft RLIMIT_NOFILE to `needed` (and the hard one, when
// permitted); without the privilege, to the hard limit. Returns what it did
// for the log, starting with "WARNING" when the limit stays below `needed`.
std::string RaiseDescriptorLimit(uint64_t needed);

// Removes the channel segments ("fss.<pid>.<n>") of fssd processes that no
// longer run (a server killed while a client was connecting leaves its
// channel's name behind). Returns how many it removed.
size_t RemoveStaleChannels();

// The name of a server's n-th channel segment.
std::string ChannelName(pid_t server_pid, uint64_t n);

class Server {
 public:
  explicit Server(ServerOptions options) : options_(std::move(options)) {}
  ~Server();

  // Opens everything and serves until Stop. Errors at start are returned.
  Status Run();
  // Asks Run to return; safe from a signal handler.
  void Stop();

 private:
  Status Listen();
  void RefuseForLackOfDescriptors(int err);
  // 0, or why a client with these credentials is refused; `*foreign` when
  // it is neither the server's user nor root (it then acts as itself).
  int Admit(const Credentials& peer, bool* foreign) const;
  void ServeClient(int sock);
  // Serves requests until the client goes, breaks the protocol or Stop;
  // returns how many it served.
  uint64_t ServeChannel(int sock, struct ChannelHeader* h, std::byte* base, Session& session);

  const ServerOptions options_;
  Credentials server_creds_;  // set by Run
  std::optional<Root> root_;
  std::unique_ptr<FileServer> files_;
  std::string socket_path_;
  int listen_fd_ = -1;
  sys::UniqueFd reserve_fd_;  // closed to make room when out of descriptors
  int stop_pipe_[2] = {-1, -1};
  std::atomic<bool> stopping_{false};
  std::atomic<uint32_t> clients_{0};
  std::atomic<uint64_t> next_channel_{0};
};

}  // namespace rams::fss
