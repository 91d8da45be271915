// SPDX-License-Identifier: MIT
/*
 * Lock holders that go away: a holder SIGKILLed releases its lock and the
 * waiter is told (RAMS_LOCK_HOLDER_GONE); a clean UNLOCK does not tell;
 * timeouts, non-blocking attempts, waiting writers, and signals
 * interrupting waits.
 */
#include <signal.h>
#include <time.h>

#include "rams_test.h"

static void on_signal(int sig) { (void)sig; }

/* Waits until `n` tasks are blocked in the module. */
static void await_waiters(uint64_t n)
{
	int i;

	for (i = 0; i < 5000 && rams_get_stats().waiters != n; i++)
		usleep(1000);
	CHECK(rams_get_stats().waiters == n);
}

/* A child that takes LOCK(0, 4096) and then sleeps until killed. */
static pid_t spawn_holder(int ready_fd)
{
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		int fd = rams_open_segment("kill", 0, 0);

		CHECK(rams_lock_range(fd, 0, 4096, 0, 0, 0, NULL) == 0);
		rams_signal(ready_fd);
		for (;;)
			pause();
	}
	return pid;
}

/* A child that blocks in LOCK(100, 10) and exits 0 iff told `want_gone`. */
static pid_t spawn_waiter(int want_gone)
{
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		int fd = rams_open_segment("kill", 0, 0);
		struct rams_lock l;

		CHECK(rams_lock_range(fd, 100, 10, 0, 0, 0, &l) == 0);
		CHECK(!!(l.result & RAMS_LOCK_HOLDER_GONE) == want_gone);
		CHECK(rams_locked_id(fd, l.id) == 1);
		_exit(0);
	}
	return pid;
}

static void test_killed_holder(void)
{
	int pipefd[2], fd = rams_open_segment("kill", 8192, RAMS_ATTACH_CREATE);
	pid_t holder, waiter;
	int status;

	CHECK(pipe(pipefd) == 0);
	holder = spawn_holder(pipefd[1]);
	rams_await(pipefd[0]);
	CHECK_ERR(pwrite(fd, "x", 1, 50), EBUSY);
	CHECK(pwrite(fd, "x", 1, 5000) == 1);
	CHECK_ERR(rams_lock_range(fd, 0, 1, 0, RAMS_LOCK_NONBLOCK, 0, NULL), EWOULDBLOCK);
	CHECK_ERR(rams_lock_range(fd, 0, 1, 0, RAMS_LOCK_TIMEOUT, 20000000, NULL), ETIMEDOUT);
	waiter = spawn_waiter(1);
	await_waiters(1);
	CHECK(kill(holder, SIGKILL) == 0);
	CHECK(waitpid(holder, &status, 0) == holder && WIFSIGNALED(status));
	rams_reap_ok(waiter);
	CHECK(pwrite(fd, "x", 1, 50) == 1);
	CHECK(rams_get_stats().leases == 0);
	close(pipefd[0]);
	close(pipefd[1]);
	close(fd);
}

static void test_unlock_does_not_tell(void)
{
	int fd = rams_open_segment("kill", 0, 0);
	struct rams_lock l;
	pid_t waiter;

	CHECK(rams_lock_range(fd, 0, 200, 0, 0, 0, &l) == 0);
	waiter = spawn_waiter(0);
	await_waiters(1);
	CHECK(rams_unlock_id(fd, l.id) == 0);
	rams_reap_ok(waiter);
	close(fd);
}

static void test_waiting_writer(void)
{
	int fd = rams_open_segment("kill", 0, 0);
	struct rams_lock l;
	char buf[4];
	pid_t writer;

	CHECK(rams_lock_range(fd, 0, 4096, 2, 0, 0, &l) == 0);
	writer = fork();
	CHECK(writer >= 0);
	if (writer == 0) {
		int wfd = rams_open_segment("kill", 0, RAMS_ATTACH_WRITE_WAIT);

		CHECK(pwrite(wfd, "W", 1, 7) == 1); /* waits for the lease */
		_exit(0);
	}
	usleep(50000);
	CHECK(pwrite(fd, "A", 1, 7) == 1);
	CHECK(rams_locked_id(fd, l.id) == 1);
	CHECK(pwrite(fd, "B", 1, 7) == 1); /* second write ends the lease */
	rams_reap_ok(writer);
	CHECK(pread(fd, buf, 1, 7) == 1 && buf[0] == 'W');
	close(fd);
}

static void test_signal_interrupts(void)
{
	struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART */
	int fd = rams_open_segment("kill", 0, 0);
	struct rams_lock l;
	pid_t child;

	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	CHECK(rams_lock_range(fd, 0, 10, 0, 0, 0, &l) == 0);
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		int cfd = rams_open_segment("kill", 0, 0);
		struct rams_wait w = { .offset = 8, .expected = 0 };

		CHECK_ERR(rams_lock_range(cfd, 0, 10, 0, 0, 0, NULL), EINTR);
		CHECK_ERR(ioctl(cfd, RAMS_IOC_WAIT, &w), EINTR);
		_exit(0);
	}
	await_waiters(1);
	CHECK(kill(child, SIGUSR1) == 0);
	for (int i = 0; i < 5000; i++) { /* the lock waiter leaves, the word waiter arrives */
		usleep(1000);
		if (rams_get_stats().waiters == 1 && i > 20)
			break;
	}
	await_waiters(1);
	CHECK(kill(child, SIGUSR1) == 0);
	rams_reap_ok(child);
	/* A task killed while waiting leaves no waiter behind. */
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		int cfd = rams_open_segment("kill", 0, 0);
		struct rams_wait w = { .offset = 8, .expected = 0 };

		ioctl(cfd, RAMS_IOC_WAIT, &w);
		_exit(5);
	}
	await_waiters(1);
	CHECK(kill(child, SIGKILL) == 0);
	CHECK(waitpid(child, NULL, 0) == child);
	await_waiters(0);
	CHECK(rams_unlock_id(fd, l.id) == 0);
	close(fd);
}

int main(void)
{
	test_killed_holder();
	test_unlock_does_not_tell();
	test_waiting_writer();
	test_signal_interrupts();
	{
		int fd = rams_open_dev();
		struct rams_stats s;

		CHECK(rams_remove_name(fd, "kill") == 0);
		close(fd);
		s = rams_get_stats();
		CHECK(s.segments == 0 && s.pages == 0 && s.handles == 0 && s.leases == 0 &&
		      s.waiters == 0);
	}
	return 0;
}
