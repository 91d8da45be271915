// SPDX-License-Identifier: MIT
// How ramsd and the client wait (ramsd --poll, RemoteOptions::busy_poll):
// every combination of modes serves round trips, and in the default
// (adaptive) mode polling stops: an idle ramsd with an idle connected client,
// and a client waiting for a slow reply, use next to no CPU. The CPU bounds
// are generous (a tenth of the time): a poll that never stops takes all of
// it on a free core, and a busy machine still gives it a good share.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "rams/remote.h"
#include "ramsd_process.h"

namespace rams::test {
namespace {

using std::chrono::microseconds;

// User plus system CPU time of process `pid` so far, from /proc/PID/stat.
double ProcessCpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The fields after the command name (in parentheses, which may hold spaces).
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; fields >> field; ++i) {  // field 3 is the state
    if (i == 14) utime = std::stoull(field);
    if (i == 15) {
      stime = std::stoull(field);
      break;
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double SelfCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

void RoundTrips(RemoteAttachment& seg, int n) {
  std::vector<std::byte> out(64), in(64);
  for (int i = 0; i < n; ++i) {
    out[0] = static_cast<std::byte>(i);
    ASSERT_TRUE(seg.Write(128, out).ok());
    ASSERT_TRUE(seg.Read(128, in).ok());
    ASSERT_EQ(in, out);
  }
}

// A default ramsd serving `seg`, a default session to it and the segment
// opened through it, after a few round trips (activity: both sides poll).
struct Served {
  explicit Served(TempSegment& seg) {
    ramsd.Start({"--export", seg.name()});
    auto s = RemoteSession::Connect("127.0.0.1", ramsd.port(), {});
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (!s.ok()) return;
    session.emplace(std::move(*s));
    auto r = session->Open(seg.name());
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (r.ok()) remote = std::move(*r);
  }
  RamsdProcess ramsd;
  std::optional<RemoteSession> session;
  std::unique_ptr<RemoteAttachment> remote;
};

TEST(PollingTest, EveryModeOfRamsdAndClientServesRoundTrips) {
  TempSegment seg(8192, "poll");
  const std::vector<std::vector<std::string>> ramsd_modes = {
      {}, {"--poll", "busy", "--busy-poll-us", "100"}, {"--poll", "sleep"},
      {"--busy-poll-us", "0"}, {"--busy-poll-us", "100"}};
  const microseconds client_modes[] = {kAdaptivePoll, microseconds(0), microseconds(100)};
  for (const auto& mode : ramsd_modes) {
    RamsdProcess ramsd;
    std::vector<std::string> args = {"--export", seg.name()};
    args.insert(args.end(), mode.begin(), mode.end());
    ramsd.Start(args);
    for (microseconds poll : client_modes) {
      SCOPED_TRACE(testing::Message() << "ramsd " << testing::PrintToString(mode) << ", client "
                                      << poll.count() << " us");
      auto s = RemoteSession::Connect("127.0.0.1", ramsd.port(), {.busy_poll = poll});
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      auto r = s->Open(seg.name());
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      RoundTrips(**r, 200);
    }
  }
}

TEST(PollingTest, UnknownPollModeIsRefused) {
  TempSegment seg(4096, "pollbad");
  const std::string cmd = RamsdPath() + " --export " + seg.name() +
                          " --listen 127.0.0.1:0 --poll spin >/dev/null 2>&1";
  const int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), 2);
}

TEST(PollingTest, IdleRamsdWithIdleClientUsesNoCpuByDefault) {
  TempSegment seg(8192, "pollidle");
  Served served(seg);
  ASSERT_NE(served.remote, nullptr);
  RamsdProcess& ramsd = served.ramsd;
  RoundTrips(*served.remote, 2000);  // activity first: both sides poll after it
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const double ramsd0 = ProcessCpuSeconds(ramsd.pid()), self0 = SelfCpuSeconds();
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(ProcessCpuSeconds(ramsd.pid()) - ramsd0, wall / 10) << "ramsd polls while idle";
  EXPECT_LT(SelfCpuSeconds() - self0, wall / 10) << "the client polls while idle";
  RoundTrips(*served.remote, 10);  // still connected
}

TEST(PollingTest, ClientWaitingForASlowReplyStopsPolling) {
  TempSegment seg(8192, "pollwait");
  Served served(seg);
  ASSERT_NE(served.remote, nullptr);
  RoundTrips(*served.remote, 200);
  const double self0 = SelfCpuSeconds();
  const auto t0 = std::chrono::steady_clock::now();
  // Nobody changes the word: the reply comes at the timeout.
  EXPECT_EQ(served.remote->Wait(0, 0, std::chrono::seconds(2)).code(), ETIMEDOUT);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(wall, 1.9);
  EXPECT_LT(SelfCpuSeconds() - self0, wall / 10) << "the client polled through the wait";
}

}  // namespace
}  // namespace rams::test
