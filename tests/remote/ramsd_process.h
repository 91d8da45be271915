/* SPDX-License-Identifier: MIT */
// Test helper: runs ramsd as a child process on a loopback port chosen by the
// kernel, with posix-backend segments created by the test, and stops it.
//
// Thread safety: one thread per RamsdProcess.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "rams/segment.h"

namespace rams::test {

// A posix backend segment with a name unique to this process, removed at
// destruction.
class TempSegment {
 public:
  explicit TempSegment(uint64_t size_bytes, std::string_view tag = "seg", uint32_t mode = 0600);
  ~TempSegment();
  const std::string& name() const { return name_; }
  Segment& segment() { return segment_; }
  // The segment's bytes through a local read.
  std::vector<std::byte> Bytes();

 private:
  std::string name_;
  Segment segment_;
};

Backend* PosixBackend();

class RamsdProcess {
 public:
  RamsdProcess() = default;
  ~RamsdProcess();
  // Starts ramsd with `args` (plus --listen ADDR:port, --backend posix,
  // --log-dir, --port-file; --no-pager and --handshake-timeout-ms 60000
  // unless `args` set them) and waits until it listens.
  void Start(const std::vector<std::string>& args, const std::string& listen_host = "127.0.0.1",
             uint16_t port = 0);
  // Sends `sig` and waits for the exit; returns the exit status (as waitpid).
  int Stop(int sig = 15);
  uint16_t port() const { return port_; }
  uint16_t http_port() const { return http_port_; }
  pid_t pid() const { return pid_; }
  const std::string& log_dir() const { return dir_; }
  // Extra command prefix (for example "ip netns exec NS").
  std::vector<std::string> prefix;

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  uint16_t http_port_ = 0;
  std::string dir_;
};

// The path of the ramsd binary under test.
std::string RamsdPath();

// Writes a key file with `key` (mode 0600) in a temporary directory.
std::string WriteKeyFile(const std::string& key);

}  // namespace rams::test
