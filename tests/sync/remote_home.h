/* SPDX-License-Identifier: MIT */
// The "remote" backend of the typed sync tests: on loopback, a home ramsd
// that exports fresh posix segments and a host ramsd that runs this host's
// pager (--pager-socket), started once per test binary, at its first remote
// test. The tests open a segment through the remote backend (the home's
// exports) and map it through the pager, as a process on another host would.
//
// Thread safety: one thread (the test's) at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rams/remote.h"
#include "rams/status.h"
#include "remote/ramsd_process.h"

namespace rams::testing {

class RemoteHome {
 public:
  // The binary's home; the ramsds start at the first TakeSegment and stop
  // when the binary exits (not in forked children, which _exit).
  static RemoteHome& Get();
  ~RemoteHome();

  // A fresh zeroed segment of `size_bytes` exported by the home: its name.
  // The home is restarted with new segments when every one was handed out.
  // A failure to start the host ramsd is also a test failure (ASSERT).
  Result<std::string> TakeSegment(uint64_t size_bytes);
  // Whether the host ramsd runs its pager (userfaultfd can serve here).
  bool pager_running() const { return pager_running_; }
  RemoteBackend* backend() { return backend_.get(); }
  uint16_t home_port() const { return home_.port(); }
  const std::string& pager_socket() const { return pager_socket_; }

 private:
  RemoteHome() = default;
  bool started() const { return backend_ != nullptr; }
  Status Start(uint64_t size_bytes);
  void StartHost();

  std::string pager_socket_;
  std::string host_dummy_;  // the host ramsd's own export (ramsd needs one)
  test::RamsdProcess host_;
  bool pager_running_ = false;
  int generation_ = 0;
  uint64_t size_bytes_ = 0;
  std::vector<std::string> segments_;  // the home's exports, in order
  size_t next_ = 0;
  test::RamsdProcess home_;
  std::unique_ptr<RemoteBackend> backend_;
};

}  // namespace rams::testing
