/* SPDX-License-Identifier: MIT */
// Test helper: runs fssd as a child process on a root, connects clients to
// it, and stops or kills it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "rams/fss.h"

namespace rams::fss::testing {

class FssdProcess {
 public:
  // Starts fssd on `root` with its socket at `socket`; waits until it
  // accepts clients. Its log goes to `log`.
  FssdProcess(const std::string& root, const std::string& socket, const std::string& log,
              const std::vector<std::string>& extra_args = {});
  ~FssdProcess();

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  const std::string& socket() const { return socket_; }
  // A new connection (nullptr on failure, errno set).
  fss_client* Connect() const { return fss_connect(socket_.c_str()); }
  // SIGTERM and wait; returns the exit status.
  int Stop();
  // SIGKILL and wait.
  void Kill();

 private:
  std::string socket_;
  pid_t pid_ = -1;
};

// The uid (and gid) the unprivileged variants of the tests run as.
inline constexpr uid_t kNobody = 65534;

// In a forked child of a root test: drops every privilege and becomes nobody,
// with no supplementary groups. False when that failed.
bool DropToNobody();

// Runs `body` (gtest assertions and all) in a child that became nobody;
// returns 0 when it passed, else the child's exit status (or 128 + signal).
// REQUIRES: root.
int RunBodyAsNobody(const std::function<void()>& body, std::chrono::seconds limit);

// Runs a program to completion; returns its exit status (or -signal).
int RunProgram(const std::vector<std::string>& argv, std::string* output = nullptr);

}  // namespace rams::fss::testing
