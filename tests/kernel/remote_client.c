// SPDX-License-Identifier: MIT
/*
 * The client-host process of remote_ramsd_test.sh: maps a remote segment
 * through /dev/rams (RAMS_ATTACH_REMOTE, served by this host's ramsd with
 * --kernel-channel) and checks what crosses.
 *
 *   remote_client rw NAME DIR: reads every page (the home wrote "home-v1" at
 *     0 and "page-N" at each page N's start), writes "client-v2" through the
 *     mapping at 0 and "pwrite-v2" with pwrite() at 8192, creates DIR/written,
 *     waits for DIR/go, then checks the home's one-sided write "home-v3" at 0
 *     reached the mapping (the home invalidated this host's copy).
 *   remote_client hang NAME DIR: maps, creates DIR/attached, waits for DIR/go,
 *     then touches page 15 (never fetched): the test stops the home and kills
 *     this host's ramsd, so the touch must end in SIGBUS.
 *   remote_client lease NAME DIR: the seed's scenario across the hosts. A
 *     process on the home holds a lock on [0, 8192) and wrote "home-p1" at
 *     4096: this process reads it, its write into the range is refused
 *     (EBUSY; LOCK gives EWOULDBLOCK, ETIMEDOUT); it creates DIR/refused and
 *     waits in LOCK(0, size, 3 writes) until the test ends the home's lock;
 *     holding it (LOCKED), it creates DIR/locked and waits for DIR/checked
 *     (the home's write is refused meanwhile), writes 3 times, after which the
 *     lease is gone (LOCKED 0, UNLOCK ENOENT), reads back exactly what it
 *     wrote and creates DIR/released, waits for DIR/verified (the test read
 *     the home's copy). Then a child's lease ends with the
 *     child's SIGKILL, and WAIT/WAKE meet at the home: a WAKE through this
 *     host reaches a child parked in WAIT through this host.
 */
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "rams_test.h"

#define PG 4096
#define PAGES 16

static void touch_file(const char *dir, const char *name)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	close(fd);
}

static void await_file(const char *dir, const char *name)
{
	char path[256];
	int i;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	for (i = 0; i < 60000 && access(path, F_OK) != 0; i++)
		usleep(1000);
	CHECK(access(path, F_OK) == 0);
}

static int lock_fd(int fd, uint64_t off, uint64_t len, uint32_t writes, uint32_t flags,
		   int64_t timeout_ns, uint64_t *id)
{
	struct rams_lock l;
	int r = rams_lock_range(fd, off, len, writes, flags, timeout_ns, &l);

	if (r == 0 && id)
		*id = l.id;
	return r;
}

static int wait_word(int fd, uint64_t off, uint32_t expected, int64_t timeout_ns)
{
	struct rams_wait w = { .offset = off, .expected = expected,
			       .flags = timeout_ns >= 0 ? RAMS_WAIT_TIMEOUT : 0,
			       .timeout_ns = timeout_ns >= 0 ? timeout_ns : 0 };

	return ioctl(fd, RAMS_IOC_WAIT, &w);
}

static int wake_word(int fd, uint64_t off, uint32_t count)
{
	struct rams_wake k = { .offset = off, .count = count };

	return ioctl(fd, RAMS_IOC_WAKE, &k);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define WORD 60000 /* the WAIT/WAKE word, outside the written ranges */

static int lease(int fd, const char *name, const char *dir)
{
	static const struct { uint64_t off; const char *text; } writes[3] = {
		{ 0, "lease-1" }, { 4096 + 100, "lease-2" }, { PAGES * PG - 7, "lease-3" },
	};
	uint64_t id;
	char got[16];
	uint32_t word;
	double start;
	pid_t pid;
	int i, status, woken;

	CHECK(pread(fd, got, 7, 4096) == 7 && memcmp(got, "home-p1", 7) == 0);
	CHECK_ERR(pwrite(fd, "refused", 7, 10), EBUSY);
	CHECK_ERR(lock_fd(fd, 0, PG, 0, RAMS_LOCK_NONBLOCK, 0, NULL), EWOULDBLOCK);
	CHECK_ERR(lock_fd(fd, 4096, 10, 0, RAMS_LOCK_TIMEOUT, 200 * 1000 * 1000, NULL), ETIMEDOUT);
	CHECK(pwrite(fd, "free", 4, 9000) == 4); /* outside the home's range */
	printf("the home's lock refused this host's write\n");
	fflush(stdout);
	touch_file(dir, "refused");
	CHECK(lock_fd(fd, 0, PAGES * PG, 3, 0, 0, &id) == 0); /* waits for the home's holder */
	CHECK(rams_locked_id(fd, id) == 1);
	CHECK_ERR(lock_fd(fd, 0, PG, 0, RAMS_LOCK_NONBLOCK, 0, NULL), EDEADLK); /* ours overlaps */
	touch_file(dir, "locked");
	await_file(dir, "checked");
	for (i = 0; i < 3; i++) {
		CHECK(rams_locked_id(fd, id) == 1);
		CHECK(pwrite(fd, writes[i].text, 7, writes[i].off) == 7);
	}
	CHECK(rams_locked_id(fd, id) == 0); /* the lease released itself after 3 writes */
	CHECK_ERR(rams_unlock_id(fd, id), ENOENT);
	for (i = 0; i < 3; i++) {
		CHECK(pread(fd, got, 7, writes[i].off) == 7);
		if (memcmp(got, writes[i].text, 7) != 0) {
			fprintf(stderr, "read back '%.7s' at %llu, want %s\n", got,
				(unsigned long long)writes[i].off, writes[i].text);
			return 1;
		}
	}
	CHECK(pread(fd, got, 4, 9000) == 4 && memcmp(got, "free", 4) == 0);
	printf("wrote 3 times under the lease, which ended; read back exactly\n");
	fflush(stdout);
	touch_file(dir, "released");
	await_file(dir, "verified"); /* the test read the home's copy */

	/* A holder killed holding its lease: the lease ends at the home. */
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int child = rams_open_dev();

		CHECK(rams_attach_fd(child, name, 0, 0, RAMS_ATTACH_REMOTE) == 0);
		CHECK(lock_fd(child, 0, PG, 0, 0, 0, NULL) == 0);
		touch_file(dir, "child-locked");
		pause();
		_exit(1);
	}
	await_file(dir, "child-locked");
	CHECK_ERR(pwrite(fd, "x", 1, 0), EBUSY);
	kill(pid, SIGKILL);
	CHECK(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status));
	start = now_s();
	while (pwrite(fd, "after-kill", 10, 0) != 10) {
		CHECK(errno == EBUSY && now_s() - start < 10);
		usleep(20 * 1000);
	}
	printf("the killed holder's lease ended %.3f s after its death\n", now_s() - start);
	fflush(stdout);

	/* WAIT and WAKE at the home. */
	word = 0;
	CHECK(pwrite(fd, &word, 4, WORD) == 4);
	CHECK_ERR(wait_word(fd, WORD, 5, -1), EAGAIN);
	CHECK_ERR(wait_word(fd, WORD, 0, 200 * 1000 * 1000), ETIMEDOUT);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		do {
			CHECK(wait_word(fd, WORD, 0, -1) == 0 || errno == EAGAIN); /* EAGAIN: it is 1 */
			CHECK(pread(fd, &word, 4, WORD) == 4);
		} while (word == 0);
		_exit(word == 1 ? 0 : 1);
	}
	start = now_s();
	do { /* until the child is parked at the home and this WAKE reaches it */
		usleep(50 * 1000);
		woken = wake_word(fd, WORD, 1);
		CHECK(woken >= 0 && now_s() - start < 10);
	} while (woken == 0);
	word = 1;
	CHECK(pwrite(fd, &word, 4, WORD) == 4);
	while (waitpid(pid, &status, WNOHANG) == 0) {
		CHECK(now_s() - start < 10);
		CHECK(wake_word(fd, WORD, 1) >= 0);
		usleep(50 * 1000);
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	printf("a WAKE through this host woke a WAIT through this host at the home\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct rams_info info;
	volatile char *p;
	char want[16];
	int fd, i;

	CHECK(argc == 4);
	fd = rams_open_dev();
	CHECK(rams_attach_fd(fd, argv[2], 0, 0, RAMS_ATTACH_REMOTE) == 0);
	CHECK(ioctl(fd, RAMS_IOC_INFO, &info) == 0);
	CHECK(info.size == PAGES * PG && (info.flags & RAMS_INFO_REMOTE));
	if (strcmp(argv[1], "lease") == 0)
		return lease(fd, argv[2], argv[3]);
	p = mmap(NULL, PAGES * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	if (strcmp(argv[1], "hang") == 0) {
		touch_file(argv[3], "attached");
		await_file(argv[3], "go");
		printf("touching page %d\n", PAGES - 1);
		fflush(stdout);
		(void)p[(PAGES - 1) * PG];
		printf("the touch returned\n");
		return 1;
	}
	CHECK(strcmp(argv[1], "rw") == 0);
	CHECK(memcmp((const char *)p, "home-v1", 7) == 0);
	for (i = 1; i < PAGES; i++) {
		snprintf(want, sizeof(want), "page-%d", i);
		if (memcmp((const char *)p + i * PG, want, strlen(want)) != 0) {
			fprintf(stderr, "page %d: '%.8s', want '%s'\n", i, (const char *)p + i * PG, want);
			return 1;
		}
	}
	memcpy((char *)p, "client-v2", 9);
	CHECK(pwrite(fd, "pwrite-v2", 9, 2 * PG) == 9);
	CHECK(memcmp((const char *)p + 2 * PG, "pwrite-v2", 9) == 0);
	printf("read %d pages, wrote 2\n", PAGES);
	fflush(stdout);
	touch_file(argv[3], "written");
	await_file(argv[3], "go");
	if (memcmp((const char *)p, "home-v3", 7) != 0) {
		fprintf(stderr, "after the home's write: '%.9s'\n", (const char *)p);
		return 1;
	}
	CHECK(memcmp((const char *)p + 7, "v2", 2) == 0); /* the rest of the client's bytes stayed */
	printf("the home's write reached the mapping\n");
	return 0;
}
