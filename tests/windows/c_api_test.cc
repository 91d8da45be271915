// SPDX-License-Identifier: MIT
// The remote part of the C interface (rams.h) in the Windows client, against
// the Linux home: connect with the key, read and write through an ordinary
// rams_segment, CAS, fetch_add, a remote mutex, and negative errno values
// that are this platform's.
#include <cerrno>
#include <cstring>
#include <string>

#include "client_test.h"
#include "rams/rams.h"

namespace rams::test {
namespace {

namespace home = windows_home;

TEST(ClientCApiTest, ConnectReadWriteAtomicsAndMutex) {
  const std::string key = HomeKey();
  rams_remote* remote = nullptr;
  ASSERT_EQ(rams_remote_connect("127.0.0.1", EnvPort("RAMS_WINDOWS_PORT"), key.c_str(), 20000,
                                &remote), 0) << rams_last_error();
  EXPECT_EQ(rams_remote_ping(remote), 0);
  rams_segment* seg = nullptr;
  ASSERT_EQ(rams_remote_open(remote, HomeSegment(home::kRw).c_str(), 0, &seg), 0)
      << rams_last_error();
  rams_segment_info info;
  ASSERT_EQ(rams_segment_describe(seg, &info), 0);
  EXPECT_EQ(info.size_bytes, home::kRwBytes);
  EXPECT_STREQ(info.backend, "remote");
  const char text[] = "written by the C API on Windows";
  const uint64_t off = 768 * 1024;
  ASSERT_EQ(rams_segment_write(seg, off, text, sizeof text), 0) << rams_last_error();
  char back[sizeof text] = {};
  ASSERT_EQ(rams_segment_read(seg, off, back, sizeof back), 0) << rams_last_error();
  EXPECT_STREQ(back, text);
  uint64_t previous = 1;
  ASSERT_EQ(rams_remote_cas(seg, off + 4096, 0, 9, &previous), 0) << rams_last_error();
  EXPECT_EQ(previous, 0u);
  ASSERT_EQ(rams_remote_fetch_add(seg, off + 4096, 1, &previous), 0);
  EXPECT_EQ(previous, 9u);
  EXPECT_EQ(rams_segment_read(seg, home::kRwBytes, back, 8), -EINVAL);
  EXPECT_NE(std::string(rams_last_error()).find("EINVAL"), std::string::npos) << rams_last_error();
  void* addr = nullptr;
  uint64_t size = 0;
  EXPECT_EQ(rams_segment_map(seg, &addr, &size), -ENOTSUP);
  rams_segment_close(seg);

  rams_segment* sync = nullptr;
  ASSERT_EQ(rams_remote_open(remote, HomeSegment(home::kSync).c_str(), 0, &sync), 0);
  ASSERT_EQ(rams_remote_mutex_lock(sync, home::Mutex(8), 5'000'000'000), 0) << rams_last_error();
  EXPECT_EQ(rams_remote_mutex_unlock(sync, home::Mutex(8)), 0) << rams_last_error();
  EXPECT_EQ(rams_remote_mutex_unlock(sync, home::Mutex(8)), -EPERM);
  // A timed-out cond wait: the mutex held again, RAMS_TIMED_OUT set.
  ASSERT_EQ(rams_remote_mutex_lock(sync, home::Mutex(8), 5'000'000'000), 0);
  const int waited = rams_remote_cond_wait(sync, home::Cond(4), home::Mutex(8), 20'000'000);
  EXPECT_EQ(waited, RAMS_TIMED_OUT) << waited << " " << rams_last_error();
  EXPECT_EQ(rams_remote_mutex_unlock(sync, home::Mutex(8)), 0);
  rams_segment_close(sync);
  rams_remote_close(remote);

  EXPECT_EQ(rams_remote_connect("127.0.0.1", EnvPort("RAMS_WINDOWS_PORT"), nullptr, 20000, &remote),
            -EACCES);
  // No local backend in the remote-only client.
  rams_segment* local = nullptr;
#if RAMS_REMOTE_ONLY
  EXPECT_EQ(rams_segment_open("local-name", 4096, 0600, RAMS_CREATE, &local), -ENOTSUP);
#endif
  (void)local;
}

}  // namespace
}  // namespace rams::test
