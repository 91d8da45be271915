/* SPDX-License-Identifier: MIT */
/*
 * Futex-style helpers over RAMS_IOC_WAIT/WAKE for words of an mmapped
 * segment: a barrier and a mutex built directly on the module's wait/wake,
 * for the multi-process tests and the benchmark.
 *
 * Thread safety: the objects live in the shared mapping and are used by many
 * processes; each process passes its own attached descriptor.
 */
#ifndef RAMS_FUTEX_H
#define RAMS_FUTEX_H

#include <stdint.h>

#include "rams_test.h"

/* Returns 0, or -errno (EAGAIN, ETIMEDOUT, EINTR). */
static inline int rams_futex_wait(int fd, uint64_t off, uint32_t expected)
{
	struct rams_wait w = { .offset = off, .expected = expected };

	return ioctl(fd, RAMS_IOC_WAIT, &w) == 0 ? 0 : -errno;
}

static inline int rams_futex_wake(int fd, uint64_t off, uint32_t count)
{
	struct rams_wake k = { .offset = off, .count = count };
	int n = ioctl(fd, RAMS_IOC_WAKE, &k);

	CHECK(n >= 0);
	return n;
}

/* Generation barrier for `parties` processes: {arrived, generation}. */
struct rams_barrier {
	uint32_t arrived;
	uint32_t generation;
};

static inline void rams_barrier_wait(int fd, struct rams_barrier *b, uint64_t b_off,
				     uint32_t parties)
{
	uint64_t gen_off = b_off + offsetof(struct rams_barrier, generation);
	uint32_t gen = __atomic_load_n(&b->generation, __ATOMIC_ACQUIRE);

	if (__atomic_add_fetch(&b->arrived, 1, __ATOMIC_ACQ_REL) == parties) {
		__atomic_store_n(&b->arrived, 0, __ATOMIC_RELAXED); /* ordered by the release below */
		__atomic_store_n(&b->generation, gen + 1, __ATOMIC_RELEASE);
		rams_futex_wake(fd, gen_off, UINT32_MAX);
		return;
	}
	/* Pairs with the release store of generation above. */
	while (__atomic_load_n(&b->generation, __ATOMIC_ACQUIRE) == gen)
		rams_futex_wait(fd, gen_off, gen);
}

/* Drepper's three-state mutex: 0 free, 1 locked, 2 locked with waiters. */
static inline void rams_mutex_lock(int fd, uint32_t *m, uint64_t m_off)
{
	uint32_t c = 0;

	if (__atomic_compare_exchange_n(m, &c, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return;
	if (c != 2)
		c = __atomic_exchange_n(m, 2, __ATOMIC_ACQUIRE);
	while (c != 0) {
		rams_futex_wait(fd, m_off, 2);
		c = __atomic_exchange_n(m, 2, __ATOMIC_ACQUIRE);
	}
}

static inline void rams_mutex_unlock(int fd, uint32_t *m, uint64_t m_off)
{
	/* Release pairs with the acquiring exchange in rams_mutex_lock(). */
	if (__atomic_exchange_n(m, 0, __ATOMIC_RELEASE) == 2)
		rams_futex_wake(fd, m_off, 1);
}

#endif /* RAMS_FUTEX_H */
