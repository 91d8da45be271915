// SPDX-License-Identifier: MIT
// The failure path of RAMS_CHECK.
#include "check.h"

#include <cstdio>
#include <cstdlib>

namespace rams::internal {

void CheckFailed(const char* condition, const char* file, int line) {
  fprintf(stderr, "rams: check failed: %s (%s:%d)\n", condition, file, line);
  abort();
}

}  // namespace rams::internal
