// SPDX-License-Identifier: MIT
/* The remote C interface from C: connect, open, read/write, atomics, locks,
 * wait/wake and sync objects through ordinary rams_segment handles. Usage:
 * PORT NAME (a ramsd on 127.0.0.1:PORT exporting NAME read-write, at least
 * 8 KiB, with a rams_mutex at 4096, a rams_cond at 4160 and a one-party
 * rams_barrier at 4224); exit 0 when all checks pass. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rams/rams.h"

#define CHECK(cond)                                                             \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "%s:%d: %s (%s)\n", __FILE__, __LINE__, #cond, rams_last_error()); \
      return 1;                                                                 \
    }                                                                           \
  } while (0)

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  rams_remote* r = NULL;
  CHECK(rams_remote_connect("127.0.0.1", (uint16_t)atoi(argv[1]), NULL, 0, &r) == 0);
  CHECK(rams_remote_ping(r) == 0);
  rams_segment* seg = NULL;
  CHECK(rams_remote_open(r, "not.exported", 0, &seg) == -ENOENT);
  CHECK(rams_remote_open(r, argv[2], 0, &seg) == 0);
  struct rams_segment_info info;
  CHECK(rams_segment_describe(seg, &info) == 0);
  CHECK(strcmp(info.backend, "remote") == 0 && info.size_bytes >= 4096);
  CHECK(rams_segment_write(seg, 100, "hello", 5) == 0);
  char back[6] = {0};
  CHECK(rams_segment_read(seg, 100, back, 5) == 0 && strcmp(back, "hello") == 0);
  uint64_t prev = 0;
  CHECK(rams_remote_fetch_add(seg, 8, 3, &prev) == 0 && prev == 0);
  CHECK(rams_remote_cas(seg, 8, 3, 10, &prev) == 0 && prev == 3);
  CHECK(rams_remote_cas(seg, 8, 3, 11, &prev) == 0 && prev == 10);
  uint64_t lock = 0;
  CHECK(rams_segment_lock(seg, 0, 64, 0, 0, &lock) == 0);
  CHECK(rams_segment_lock_held(seg, lock) == 1);
  CHECK(rams_segment_unlock(seg, lock) == 0);
  CHECK(rams_segment_unlock(seg, lock) == -ENOENT);
  CHECK(rams_segment_wait(seg, 16, 1, 1000000) == -EAGAIN);
  CHECK(rams_segment_wait(seg, 16, 0, 1000000) == -ETIMEDOUT);
  CHECK(rams_segment_wake(seg, 16, 1) == 0);
  /* Sync objects, initialized by the runner on the home host. */
  CHECK(rams_remote_mutex_lock(seg, 4096, RAMS_FOREVER) == 0);
  CHECK(rams_remote_mutex_lock(seg, 4096, 0) == -EDEADLK);
  CHECK(rams_remote_cond_wait(seg, 4160, 4096, 1000000) == RAMS_TIMED_OUT);
  CHECK(rams_remote_cond_signal(seg, 4160) == 0 && rams_remote_cond_broadcast(seg, 4160) == 0);
  CHECK(rams_remote_mutex_unlock(seg, 4096) == 0);
  CHECK(rams_remote_mutex_unlock(seg, 4096) == -EPERM);
  CHECK(rams_remote_mutex_consistent(seg, 4096) == -EINVAL);
  CHECK(rams_remote_mutex_trylock(seg, 4104) == -EINVAL); /* inside the mutex, not one */
  CHECK(rams_remote_barrier_join(seg, 4224) == 0);
  CHECK(rams_remote_barrier_wait(seg, 4224, RAMS_FOREVER) == 1); /* one party: always last */
  CHECK(rams_remote_barrier_leave(seg, 4224) == 0);
  CHECK(rams_remote_mutex_trylock(seg, 4096) == 0); /* held at exit: the runner sees a death */
  void* addr = NULL;
  uint64_t size = 0;
  CHECK(rams_segment_map(seg, &addr, &size) == -ENOTSUP);
  CHECK(rams_remote_mapping_status(seg) == -EINVAL); /* not mapped */
  CHECK(rams_remote_flush_mapping(seg) == -EINVAL);
  rams_remote_close(r); /* the segment outlives its session */
  CHECK(rams_segment_read(seg, 100, back, 5) == 0);
  rams_segment_close(seg);
  return 0;
}
