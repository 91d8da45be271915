// SPDX-License-Identifier: MIT
// The typed sync tests' remote home (remote_home.h).
#include "remote_home.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include "remote/raw_client.h"

namespace rams::testing {
namespace {

// Segments per home start: the tests of one binary run with ctest take one
// each (one process per test); a whole binary run restarts the home now and
// then.
constexpr int kSegmentsPerStart = 16;

std::string SegmentName(int generation, int i) {
  return "syncremote." + std::to_string(getpid()) + "." + std::to_string(generation) + "." +
         std::to_string(i);
}

}  // namespace

RemoteHome& RemoteHome::Get() {
  static RemoteHome home;  // both ramsds live as long as the binary
  return home;
}

RemoteHome::~RemoteHome() {
  backend_.reset();
  home_.Stop();
  host_.Stop();
  for (const std::string& name : segments_) {
    Segment::Remove(name, test::PosixBackend()).IgnoreError();
  }
  if (!host_dummy_.empty()) Segment::Remove(host_dummy_, test::PosixBackend()).IgnoreError();
}

void RemoteHome::StartHost() {
  pager_socket_ = "@rams-sync-remote-pager-" + std::to_string(getpid());
  host_dummy_ = "syncremote." + std::to_string(getpid()) + ".host";
  auto dummy = Segment::Create(host_dummy_, 4096, 0600, /*exclusive=*/true, test::PosixBackend());
  ASSERT_TRUE(dummy.ok()) << dummy.status().ToString();
  host_.Start({"--export", host_dummy_, "--http", "127.0.0.1:0", "--pager-socket", pager_socket_});
  pager_running_ = test::ScrapeMetric(host_.http_port(), "ramsd_pager_segments") != UINT64_MAX;
  // RemoteAttachment::Map (Segment::Map on the remote backend) finds the pager here.
  ASSERT_EQ(setenv("RAMS_PAGER_SOCKET", pager_socket_.c_str(), 1), 0);
}

Status RemoteHome::Start(uint64_t size_bytes) {
  backend_.reset();
  if (home_.pid() > 0) home_.Stop();
  for (const std::string& name : segments_) {
    Segment::Remove(name, test::PosixBackend()).IgnoreError();
  }
  segments_.clear();
  next_ = 0;
  size_bytes_ = size_bytes;
  ++generation_;
  std::vector<std::string> args;
  for (int i = 0; i < kSegmentsPerStart; ++i) {
    std::string name = SegmentName(generation_, i);
    RAMS_ASSIGN_OR_RETURN(Segment s, Segment::Create(name, size_bytes, 0600, /*exclusive=*/true,
                                                     test::PosixBackend()));
    segments_.push_back(name);
    args.push_back("--export");
    args.push_back(name);
  }
  home_.Start(args);
  if (home_.pid() <= 0) return Error(ECHILD, "the home ramsd did not start");
  RAMS_ASSIGN_OR_RETURN(RemoteSession session, RemoteSession::Connect("127.0.0.1", home_.port()));
  backend_ = std::make_unique<RemoteBackend>(std::move(session));
  return Status();
}

Result<std::string> RemoteHome::TakeSegment(uint64_t size_bytes) {
  if (host_.pid() <= 0) {
    StartHost();
    if (host_.pid() <= 0) return Error(ECHILD, "the host ramsd did not start");
  }
  if (!started() || next_ == segments_.size() || size_bytes != size_bytes_) {
    RAMS_RETURN_IF_ERROR(Start(size_bytes));
  }
  return segments_[next_++];
}

}  // namespace rams::testing
