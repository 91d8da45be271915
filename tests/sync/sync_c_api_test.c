// SPDX-License-Identifier: MIT
/* The synchronization part of the C interface, exercised from C: every
 * primitive in a mapped segment, and an owner death seen through C. Prints
 * one line per failed check; exits non-zero when any fails. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/c_check.h"
#include "rams/rams.h"


struct shared {
  rams_mutex mu;
  rams_cond cv;
  rams_rwlock rw;
  rams_sem sem;
  rams_barrier barrier;
  int value;
};

int main(void) {
  char name[64];
  snprintf(name, sizeof name, "t-capi-sync-%d", (int)getpid());
  rams_segment* seg = NULL;
  CHECK(rams_segment_open(name, 65536, 0600, RAMS_CREATE | RAMS_EXCL, &seg) == 0);
  void* addr = NULL;
  uint64_t size = 0;
  CHECK(rams_segment_map(seg, &addr, &size) == 0);
  if (addr == NULL) return 1;
  struct shared* s = (struct shared*)addr;

  CHECK(rams_mutex_init(&s->mu) == 0);
  CHECK(rams_cond_init(&s->cv) == 0);
  CHECK(rams_rwlock_init(&s->rw) == 0);
  CHECK(rams_sem_init(&s->sem, 1) == 0);
  CHECK(rams_barrier_init(&s->barrier, 1) == 0);
  CHECK(rams_barrier_init(&s->barrier, 65) == -EINVAL);
  CHECK(rams_barrier_init(&s->barrier, 1) == 0);

  /* Mutex, and a holder that dies. */
  CHECK(rams_mutex_lock(&s->mu, RAMS_FOREVER) == 0);
  CHECK(rams_mutex_trylock(&s->mu) == -EBUSY);
  CHECK(strstr(rams_last_error(), "EBUSY") != NULL);
  rams_mutex_unlock(&s->mu);
  pid_t child = fork();
  if (child == 0) _exit(rams_mutex_lock(&s->mu, RAMS_FOREVER) == 0 ? 0 : 1);
  int status = 0;
  waitpid(child, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(rams_mutex_lock(&s->mu, 1000000000LL) == RAMS_OWNER_DIED);
  rams_mutex_consistent(&s->mu);

  /* CondVar: a timed wait re-acquires and says it timed out. */
  CHECK(rams_cond_wait(&s->cv, &s->mu, 10000000LL) == RAMS_TIMED_OUT);
  rams_cond_signal(&s->cv);
  rams_cond_broadcast(&s->cv);
  rams_mutex_unlock(&s->mu);
  CHECK(rams_mutex_lock(&s->mu, 0) == 0);
  rams_mutex_unlock(&s->mu);

  /* RwLock. */
  CHECK(rams_rwlock_rdlock(&s->rw, RAMS_FOREVER) == 0);
  CHECK(rams_rwlock_rdlock(&s->rw, 0) == 0);
  CHECK(rams_rwlock_wrlock(&s->rw, 0) == -EDEADLK);
  rams_rwlock_rdunlock(&s->rw);
  rams_rwlock_rdunlock(&s->rw);
  CHECK(rams_rwlock_wrlock(&s->rw, 0) == 0);
  rams_rwlock_wrunlock(&s->rw);

  /* Semaphore. */
  CHECK(rams_sem_wait(&s->sem, 0) == 0);
  CHECK(rams_sem_wait(&s->sem, 0) == -EAGAIN);
  CHECK(rams_sem_wait(&s->sem, 1000000LL) == -ETIMEDOUT);
  CHECK(rams_sem_post(&s->sem) == 0);
  CHECK(rams_sem_value(&s->sem) == 1);

  /* Barrier of one: every wait is the last. */
  CHECK(rams_barrier_join(&s->barrier) == 0);
  CHECK(rams_barrier_wait(&s->barrier, RAMS_FOREVER) == 1);
  rams_barrier_leave(&s->barrier);
  rams_barrier_reset(&s->barrier);

  rams_segment_close(seg);
  CHECK(rams_segment_remove(name) == 0);
  if (failures == 0) printf("sync C API: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
