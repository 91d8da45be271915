// SPDX-License-Identifier: MIT
/*
 * WAIT/WAKE: a woken waiter returns 0; WAKE counts whom it woke; the word is
 * read through the segment (write() and mmap alike); a ping-pong between two
 * processes through a mapped word; a mutex under contention stays exclusive.
 */
#include <sched.h>
#include <sys/mman.h>

#include "rams_futex.h"

static void await_waiters(uint64_t n)
{
	int i;

	for (i = 0; i < 5000 && rams_get_stats().waiters != n; i++)
		usleep(1000);
	CHECK(rams_get_stats().waiters == n);
}

static pid_t spawn_waiter(uint64_t off, uint32_t expected)
{
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		int fd = rams_open_segment("wait", 0, 0);

		CHECK(rams_futex_wait(fd, off, expected) == 0);
		_exit(0);
	}
	return pid;
}

static void test_wake_counts(int fd)
{
	uint32_t one = 1;
	pid_t w[3];
	int i;

	CHECK(rams_futex_wake(fd, 16, 10) == 0);
	for (i = 0; i < 3; i++)
		w[i] = spawn_waiter(16, 0);
	spawn_waiter(20, 0); /* another word: not woken by WAKE(16) */
	await_waiters(4);
	CHECK(pwrite(fd, &one, 4, 16) == 4);
	CHECK(rams_futex_wake(fd, 16, 2) == 2);
	await_waiters(2);
	CHECK(rams_futex_wake(fd, 16, 10) == 1);
	for (i = 0; i < 3; i++)
		rams_reap_ok(w[i]);
	await_waiters(1);
	CHECK(rams_futex_wake(fd, 20, 1) == 1);
	CHECK(waitpid(-1, NULL, 0) > 0);
	CHECK(rams_futex_wait(fd, 16, 0) == -EAGAIN); /* word is 1 */
}

#define kRounds 500

static void test_ping_pong(int fd)
{
	uint32_t *word = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	pid_t pid;
	uint32_t i;

	CHECK(word != MAP_FAILED);
	__atomic_store_n(&word[64], 0, __ATOMIC_SEQ_CST);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) { /* odd turns */
		for (i = 1; i < 2 * kRounds; i += 2) {
			while (__atomic_load_n(&word[64], __ATOMIC_ACQUIRE) != i)
				rams_futex_wait(fd, 256, i - 1);
			__atomic_store_n(&word[64], i + 1, __ATOMIC_RELEASE);
			rams_futex_wake(fd, 256, 1);
		}
		_exit(0);
	}
	for (i = 0; i < 2 * kRounds; i += 2) {
		while (__atomic_load_n(&word[64], __ATOMIC_ACQUIRE) != i)
			rams_futex_wait(fd, 256, i - 1);
		__atomic_store_n(&word[64], i + 1, __ATOMIC_RELEASE);
		rams_futex_wake(fd, 256, 1);
	}
	rams_reap_ok(pid);
	CHECK(__atomic_load_n(&word[64], __ATOMIC_SEQ_CST) == 2 * kRounds);
	CHECK(munmap(word, 4096) == 0);
}

#define kProcs 4
#define kIncrements 1000

static void test_mutex(int fd)
{
	uint32_t *mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	pid_t pids[kProcs];
	int p, i;

	CHECK(mem != MAP_FAILED);
	mem[128] = 0; /* mutex at 512 */
	mem[129] = 0; /* counter, updated non-atomically under the mutex */
	for (p = 0; p < kProcs; p++) {
		pids[p] = fork();
		CHECK(pids[p] >= 0);
		if (pids[p] == 0) {
			for (i = 0; i < kIncrements; i++) {
				rams_mutex_lock(fd, &mem[128], 512);
				volatile uint32_t *c = &mem[129];
				uint32_t v = *c;

				if (i % 64 == 0)
					sched_yield();
				*c = v + 1;
				rams_mutex_unlock(fd, &mem[128], 512);
			}
			_exit(0);
		}
	}
	for (p = 0; p < kProcs; p++)
		rams_reap_ok(pids[p]);
	CHECK(mem[129] == kProcs * kIncrements);
	CHECK(munmap(mem, 4096) == 0);
}

int main(void)
{
	int fd = rams_open_segment("wait", 8192, RAMS_ATTACH_CREATE | RAMS_ATTACH_EXCL);
	struct rams_stats s;

	test_wake_counts(fd);
	test_ping_pong(fd);
	test_mutex(fd);
	CHECK(rams_remove_name(fd, "wait") == 0);
	close(fd);
	s = rams_get_stats();
	CHECK(s.segments == 0 && s.pages == 0 && s.handles == 0 && s.waiters == 0);
	return 0;
}
