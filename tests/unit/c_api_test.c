// SPDX-License-Identifier: MIT
/* The C interface, exercised from C. Prints one line per check; exits
 * non-zero when any fails. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/c_check.h"
#include "rams/rams.h"


int main(void) {
  char name[64];
  snprintf(name, sizeof name, "t-capi-%d", (int)getpid());

  rams_segment* a = NULL;
  rams_segment* b = NULL;
  CHECK(rams_segment_open(name, 4096, 0600, RAMS_CREATE | RAMS_EXCL, &a) == 0);
  CHECK(rams_segment_open(name, 4096, 0600, RAMS_CREATE | RAMS_EXCL, &b) == -EEXIST);
  CHECK(strstr(rams_last_error(), "EEXIST") != NULL);
  CHECK(rams_segment_open(name, 0, 0, 0, &b) == 0);

  int values[4] = {1, 2, 3, 4};
  CHECK(rams_segment_write(a, 16, values, sizeof values) == 0);
  int back[4] = {0};
  CHECK(rams_segment_read(b, 16, back, sizeof back) == 0);
  CHECK(memcmp(values, back, sizeof values) == 0);

  void* addr = NULL;
  uint64_t size = 0;
  CHECK(rams_segment_map(b, &addr, &size) == 0);
  CHECK(size == 4096);
  CHECK(addr != NULL && memcmp((char*)addr + 16, values, sizeof values) == 0);

  uint64_t lock = 0;
  CHECK(rams_segment_lock(a, 0, 64, 2, 0, &lock) == 0);
  CHECK(rams_segment_write(b, 0, values, 4) == -EBUSY);
  uint64_t other = 0;
  CHECK(rams_segment_lock(b, 32, 8, 0, 0, &other) == -EWOULDBLOCK);
  CHECK(rams_segment_write(a, 0, values, 4) == 0);
  CHECK(rams_segment_lock_held(a, lock) == 1);
  CHECK(rams_segment_write(a, 4, values, 4) == 0);
  CHECK(rams_segment_lock_held(a, lock) == 0);
  CHECK(rams_segment_write(b, 0, values, 4) == 0);
  CHECK(rams_segment_unlock(a, lock) == -ENOENT);

  CHECK(rams_segment_wait(a, 16, 99, 1000000) == -EAGAIN);
  CHECK(rams_segment_wait(a, 18, 0, 1000000) == -EINVAL);
  CHECK(rams_wait_word((const uint32_t*)addr + 4, 99, 1000000) == -EAGAIN);
  CHECK(rams_wait_word((const uint32_t*)addr + 4, 1, 1000000) == -ETIMEDOUT);
  CHECK(rams_segment_wake(a, 16, 1) == 0);
  CHECK(rams_wake_word((const uint32_t*)addr + 4, 1) == 0);

  CHECK(rams_segment_read(a, 4090, back, sizeof back) == -EINVAL);
  CHECK(strstr(rams_last_error(), "past the end") != NULL);
  CHECK(rams_segment_open("a/b", 4096, 0600, RAMS_CREATE, &b) == -EINVAL);
  CHECK(rams_segment_open(name, 4096, 0600, 0x80, &b) == -EINVAL);

  struct rams_segment_info info;
  CHECK(rams_segment_stat(name, &info) == 0);
  CHECK(info.size_bytes == 4096 && info.mode == 0600 && strcmp(info.name, name) == 0);
  struct rams_segment_info list[256];
  int n = rams_segment_list(list, 256);
  CHECK(n >= 1);
  int seen = 0;
  for (int i = 0; i < n && i < 256; ++i) seen += strcmp(list[i].name, name) == 0;
  CHECK(seen == 1);

  rams_segment_close(b);
  rams_segment_close(a);
  CHECK(rams_segment_remove(name) == 0);
  CHECK(rams_segment_remove(name) == -ENOENT);
  CHECK(rams_segment_stat(name, &info) == -ENOENT);

  printf("c_api: %s\n", failures == 0 ? "all checks passed" : "FAILED");
  return failures == 0 ? 0 : 1;
}
