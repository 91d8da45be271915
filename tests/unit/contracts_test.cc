// SPDX-License-Identifier: MIT
// The contracts that stay on in every build: RAMS_CHECK aborts even where
// assert is compiled out (NDEBUG, the RelWithDebInfo default), and a
// ThreadRole refuses a second thread.
#include <gtest/gtest.h>

#include <thread>

#include "check.h"
#include "sys/local_mutex.h"

namespace rams {
namespace {

TEST(ContractsTest, RamsCheckAbortsInEveryBuild) {
  volatile bool broken = true;
  EXPECT_DEATH(RAMS_CHECK(!broken), "check failed: !broken");
  RAMS_CHECK(broken);  // a true condition does nothing
}

TEST(ContractsTest, ThreadRoleBelongsToTheFirstThreadThatAssertsIt) {
  EXPECT_DEATH(
      {
        sys::ThreadRole role;
        role.AssertHeld();
        role.AssertHeld();  // the same thread again: fine
        std::thread([&] { role.AssertHeld(); }).join();
      },
      "check failed");
}

}  // namespace
}  // namespace rams
