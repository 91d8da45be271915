/* SPDX-License-Identifier: MIT */
/* CHECK for the tests written in C: a failed condition prints where and what
 * failed, with rams_last_error(), and is counted in `failures`; the test goes
 * on and exits non-zero at the end when any failed. */
#ifndef RAMS_TESTS_COMMON_C_CHECK_H_
#define RAMS_TESTS_COMMON_C_CHECK_H_

#include <stdio.h>

#include "rams/rams.h"

static int failures;

#define CHECK(cond)                                                                           \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      fprintf(stderr, "FAIL %s:%d: %s (%s)\n", __FILE__, __LINE__, #cond, rams_last_error()); \
      ++failures;                                                                             \
    }                                                                                         \
  } while (0)

#endif /* RAMS_TESTS_COMMON_C_CHECK_H_ */
