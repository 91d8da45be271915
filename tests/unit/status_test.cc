// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>

#include <cerrno>

#include "rams/backend.h"
#include "rams/status.h"

namespace rams {
namespace {

TEST(Status, ErrorSaysWhatAndTheCodeName) {
  Status s = Error(ENOSPC, "ftruncate rams.matrix");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ENOSPC);
  EXPECT_EQ(s.ToString(), "ftruncate rams.matrix: ENOSPC");
  EXPECT_TRUE(Status().ok());
  EXPECT_EQ(Status().ToString(), "OK");
}

TEST(Status, ResultHoldsValueOrError) {
  Result<int> good = 5;
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 5);
  Result<int> bad = Error(EINVAL, "x");
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.code(), EINVAL);
}

TEST(Names, ValidAndInvalid) {
  EXPECT_TRUE(ValidateName("matrix.A_1-b").ok());
  EXPECT_EQ(ValidateName("").code(), EINVAL);
  EXPECT_EQ(ValidateName("a/b").code(), EINVAL);
  EXPECT_EQ(ValidateName("..").code(), EINVAL);
  EXPECT_EQ(ValidateName(".hidden").code(), EINVAL);
  EXPECT_EQ(ValidateName("sp ace").code(), EINVAL);
  EXPECT_EQ(ValidateName(std::string("nul\0x", 5)).code(), EINVAL);
  EXPECT_TRUE(ValidateName(std::string(kMaxNameBytes, 'a')).ok());
  EXPECT_EQ(ValidateName(std::string(kMaxNameBytes + 1, 'a')).code(), ENAMETOOLONG);
}

}  // namespace
}  // namespace rams
