// Runs the C program c_api_remote_test.c against a ramsd on loopback.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>

#include "ramsd_process.h"

namespace rams::test {
namespace {

TEST(CApiRemoteTest, CProgramPasses) {
  TempSegment seg(8192, "capi");
  RamsdProcess ramsd;
  ramsd.Start({"--export", seg.name()});
  const std::string cmd = std::string(C_API_REMOTE_TEST_PATH) + " " +
                          std::to_string(ramsd.port()) + " " + seg.name();
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  uint64_t word = 0;
  ASSERT_TRUE(seg.segment().Read(8, std::as_writable_bytes(std::span(&word, 1))).ok());
  EXPECT_EQ(word, 10u);
}

}  // namespace
}  // namespace rams::test
