// SPDX-License-Identifier: MIT
/*
 * 20 processes multiply two matrices through one mmapped segment. Process 0
 * fills A and B; a barrier; each process computes the rows i with
 * i % 20 == id of C = A x B and adds its rows' sum to a shared total under a
 * mutex; a barrier; process 0 checks C and the total against a product
 * computed privately. The barrier and the mutex are built directly on the
 * module's WAIT/WAKE (rams_futex.h).
 */
#include <sched.h>
#include <sys/mman.h>

#include "rams_futex.h"

#define kProcs 20
#define kN 48

struct shared {
	struct rams_barrier barrier;
	uint32_t mutex;
	uint32_t pad;
	uint64_t total;       /* guarded by mutex; updated non-atomically on purpose */
	uint64_t a[kN][kN];
	uint64_t b[kN][kN];
	uint64_t c[kN][kN];
};

static uint64_t entry(int which, int i, int j)
{
	return (uint64_t)(which * 7919 + i * 31 + j * 17) % 1000;
}

static void worker(int id, int fd, struct shared *s)
{
	uint64_t rows_sum = 0;
	int i, j, k;

	if (id == 0) {
		for (i = 0; i < kN; i++)
			for (j = 0; j < kN; j++) {
				s->a[i][j] = entry(1, i, j);
				s->b[i][j] = entry(2, i, j);
			}
	}
	rams_barrier_wait(fd, &s->barrier, offsetof(struct shared, barrier), kProcs);
	for (i = id; i < kN; i += kProcs)
		for (j = 0; j < kN; j++) {
			uint64_t sum = 0;

			for (k = 0; k < kN; k++)
				sum += s->a[i][k] * s->b[k][j];
			s->c[i][j] = sum;
			rows_sum += sum;
		}
	rams_mutex_lock(fd, &s->mutex, offsetof(struct shared, mutex));
	{
		volatile uint64_t *t = &s->total;
		uint64_t v = *t;

		sched_yield(); /* widen the window a broken mutex would lose updates in */
		*t = v + rows_sum;
	}
	rams_mutex_unlock(fd, &s->mutex, offsetof(struct shared, mutex));
	rams_barrier_wait(fd, &s->barrier, offsetof(struct shared, barrier), kProcs);
}

int main(void)
{
	int fd = rams_open_segment("matrix", sizeof(struct shared),
				   RAMS_ATTACH_CREATE | RAMS_ATTACH_EXCL);
	struct shared *s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	uint64_t total = 0;
	pid_t pids[kProcs];
	int p, i, j, k;

	CHECK(s != MAP_FAILED);
	for (p = 1; p < kProcs; p++) {
		pids[p] = fork();
		CHECK(pids[p] >= 0);
		if (pids[p] == 0) {
			/* Each process attaches on its own, as unrelated programs would. */
			int own = rams_open_segment("matrix", 0, 0);
			struct shared *m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE,
						MAP_SHARED, own, 0);

			CHECK(m != MAP_FAILED);
			worker(p, own, m);
			_exit(0);
		}
	}
	worker(0, fd, s);
	for (p = 1; p < kProcs; p++)
		rams_reap_ok(pids[p]);
	for (i = 0; i < kN; i++)
		for (j = 0; j < kN; j++) {
			uint64_t sum = 0;

			for (k = 0; k < kN; k++)
				sum += entry(1, i, k) * entry(2, k, j);
			CHECK(s->c[i][j] == sum);
			total += sum;
		}
	CHECK(s->total == total);
	CHECK(munmap(s, sizeof(*s)) == 0);
	CHECK(rams_remove_name(fd, "matrix") == 0);
	close(fd);
	CHECK(rams_get_stats().segments == 0);
	return 0;
}
