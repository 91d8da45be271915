// SPDX-License-Identifier: MIT
// Runs the C program c_api_remote_test.c against a ramsd on loopback.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>

#include "rams/rams.h"
#include "ramsd_process.h"

namespace rams::test {
namespace {

TEST(CApiRemoteTest, CProgramPasses) {
  TempSegment seg(8192, "capi");
  auto map = seg.segment().Map();
  ASSERT_TRUE(map.ok());
  auto* mutex = reinterpret_cast<rams_mutex*>(map->data() + 4096);
  ASSERT_EQ(rams_mutex_init(mutex), 0);
  ASSERT_EQ(rams_cond_init(reinterpret_cast<rams_cond*>(map->data() + 4160)), 0);
  ASSERT_EQ(rams_barrier_init(reinterpret_cast<rams_barrier*>(map->data() + 4224), 1), 0);
  RamsdProcess ramsd;
  ramsd.Start({"--export", seg.name()});
  // Map must find no host pager, whatever this host runs (a ramsd serves
  // one at the default socket unless told --no-pager).
  const std::string cmd = "RAMS_PAGER_SOCKET=/nonexistent/rams-capi-pager.sock " +
                          std::string(C_API_REMOTE_TEST_PATH) + " " +
                          std::to_string(ramsd.port()) + " " + seg.name();
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  uint64_t word = 0;
  ASSERT_TRUE(seg.segment().Read(8, std::as_writable_bytes(std::span(&word, 1))).ok());
  EXPECT_EQ(word, 10u);
  // The C program's session ended holding the mutex: an owner death here.
  EXPECT_EQ(rams_mutex_lock(mutex, 5'000'000'000), RAMS_OWNER_DIED);
  rams_mutex_consistent(mutex);
  rams_mutex_unlock(mutex);
}

}  // namespace
}  // namespace rams::test
