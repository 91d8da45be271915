// SPDX-License-Identifier: MIT
/*
 * No global stalls: a call that copies to or from a user buffer that faults
 * slowly (here a userfaultfd page nobody resolves yet) stalls only its own
 * caller. While a LIST is stuck copying out, other ATTACH/REMOVE/LIST calls
 * go on; while a write() is stuck copying in (holding the segment's data
 * lock), a NONBLOCK or zero-timeout LOCK answers EWOULDBLOCK at once and a
 * blocking LOCK dies on SIGKILL. (attach_undo_test holds an ATTACH the same
 * way, with write-protect.)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "rams_uffd.h"

/* Whether child `pid` exits with status 0 within `ms`; kills it otherwise. */
static int child_ok_within(pid_t pid, int ms)
{
	int status, i;

	for (i = 0; i < ms / 10; i++) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		CHECK(r >= 0);
		if (r == pid)
			return WIFEXITED(status) && WEXITSTATUS(status) == 0;
		usleep(10000);
	}
	return 0;
}

static void reap(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	CHECK(waitpid(pid, &status, 0) == pid);
}

static void *list_into(void *arg)
{
	struct uffd_region *r = arg;
	struct rams_list l;
	int fd = rams_open_dev();

	memset(&l, 0, sizeof(l));
	l.entries = (uintptr_t)r->page;
	l.capacity = kPage / sizeof(struct rams_info);
	CHECK(ioctl(fd, RAMS_IOC_LIST, &l) == 0 && l.count >= 1);
	close(fd);
	return NULL;
}

static void registry_calls(void)
{
	struct rams_info info[4];
	struct rams_list l;
	int fd = rams_open_dev(), fd2 = rams_open_dev();

	CHECK(rams_attach_fd(fd, "other", kPage, 0600, RAMS_ATTACH_CREATE) == 0);
	CHECK(rams_attach_fd(fd2, "listed", 0, 0, 0) == 0);
	memset(&l, 0, sizeof(l));
	l.entries = (uintptr_t)info;
	l.capacity = 4;
	CHECK(ioctl(fd, RAMS_IOC_LIST, &l) == 0 && l.count == 2);
	CHECK(rams_remove_name(fd, "other") == 0);
	close(fd);
	close(fd2);
}

static void test_list_does_not_stall_registry(void)
{
	struct uffd_region r = uffd_region_new();
	int fd = rams_open_segment("listed", kPage, RAMS_ATTACH_CREATE);
	pthread_t t;
	pid_t pid;
	int ok;

	CHECK(pthread_create(&t, NULL, list_into, &r) == 0);
	uffd_await_fault(&r);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		registry_calls();
		_exit(0);
	}
	ok = child_ok_within(pid, 10000);
	uffd_resolve(&r);
	CHECK(pthread_join(t, NULL) == 0);
	if (!ok) {
		reap(pid);
		fprintf(stderr, "ATTACH/LIST/REMOVE stalled behind a LIST copying out\n");
		exit(1);
	}
	CHECK(rams_remove_name(fd, "listed") == 0);
	close(fd);
	close(r.uffd);
	munmap(r.page, kPage);
}

struct writer {
	int fd;
	struct uffd_region *r;
};

static void *write_from(void *arg)
{
	struct writer *w = arg;

	CHECK(pwrite(w->fd, w->r->page, kPage, 0) == kPage);
	return NULL;
}

static void lock_nonblock(void)
{
	int fd = rams_open_segment("stalled", 0, 0);

	CHECK_ERR(rams_lock_range(fd, 0, 1, 0, RAMS_LOCK_NONBLOCK, 0, NULL), EWOULDBLOCK);
	CHECK_ERR(rams_lock_range(fd, 0, 1, 0, RAMS_LOCK_TIMEOUT, 0, NULL), EWOULDBLOCK);
	close(fd);
}

static void lock_blocking(void)
{
	int fd = rams_open_segment("stalled", 0, 0);

	rams_lock_range(fd, 0, 1, 0, 0, 0, NULL);
	_exit(3); /* never reached before the write ends; SIGKILLed */
}

static void test_lock_beside_stalled_write(void)
{
	struct uffd_region r = uffd_region_new();
	struct writer w = { .fd = rams_open_segment("stalled", kPage, RAMS_ATTACH_CREATE), .r = &r };
	pthread_t t;
	pid_t nonblock, blocking;
	int ok, killed, status;

	CHECK(pthread_create(&t, NULL, write_from, &w) == 0);
	uffd_await_fault(&r);
	nonblock = fork();
	CHECK(nonblock >= 0);
	if (nonblock == 0) {
		lock_nonblock();
		_exit(0);
	}
	ok = child_ok_within(nonblock, 10000);
	blocking = fork();
	CHECK(blocking >= 0);
	if (blocking == 0)
		lock_blocking();
	usleep(300000); /* let it block */
	CHECK(kill(blocking, SIGKILL) == 0);
	killed = 0;
	for (int i = 0; i < 500 && !killed; i++) {
		pid_t p = waitpid(blocking, &status, WNOHANG);

		killed = p == blocking && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
		if (!killed)
			usleep(10000);
	}
	uffd_resolve(&r);
	CHECK(pthread_join(t, NULL) == 0);
	if (!ok) {
		reap(nonblock);
		fprintf(stderr, "a NONBLOCK LOCK waited for a write copying from user memory\n");
	}
	if (!killed) {
		CHECK(waitpid(blocking, &status, 0) == blocking);
		fprintf(stderr, "a blocking LOCK did not die on SIGKILL during a stalled write\n");
	}
	CHECK(ok && killed);
	CHECK(rams_remove_name(w.fd, "stalled") == 0);
	close(w.fd);
	close(r.uffd);
	munmap(r.page, kPage);
}

int main(void)
{
	struct rams_stats s;

	test_list_does_not_stall_registry();
	test_lock_beside_stalled_write();
	s = rams_get_stats();
	CHECK(s.segments == 0 && s.handles == 0 && s.leases == 0 && s.waiters == 0);
	return 0;
}
