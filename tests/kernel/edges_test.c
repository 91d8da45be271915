// SPDX-License-Identifier: MIT
/*
 * The ABI's edge cases: a read-only shared mapping of an O_RDONLY
 * descriptor, fsync/msync, splice/sendfile, writev as one
 * write against a lease, ASCII-only names, the mmap length limit at its
 * extremes, ATTACH's undo after a failed copy-out, LIST and /proc/rams
 * showing only what the caller may open, names per IPC namespace (and
 * dropped with it), LOCK and WAIT restarting after SIGSTOP/SIGCONT and LOCK
 * after the cgroup freezer, and LOCK timeouts never early.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <time.h>

#include "rams_test.h"

#define kPage 4096

static void test_readonly_shared_mapping(void)
{
	int rw = rams_open_segment("ro-map", kPage, RAMS_ATTACH_CREATE);
	int ro = open(RAMS_DEVICE_PATH, O_RDONLY | O_CLOEXEC);
	char *p;

	CHECK(pwrite(rw, "visible", 7, 0) == 7);
	CHECK(ro >= 0 && rams_attach_fd(ro, "ro-map", 0, 0, RAMS_ATTACH_RDONLY) == 0);
	p = mmap(NULL, kPage, PROT_READ, MAP_SHARED, ro, 0);
	CHECK(p != MAP_FAILED);
	CHECK(memcmp(p, "visible", 7) == 0);
	CHECK_ERR(mprotect(p, kPage, PROT_READ | PROT_WRITE), EACCES);
	CHECK(munmap(p, kPage) == 0);
	CHECK_ERR(mmap(NULL, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0), EACCES);
	CHECK(rams_remove_name(rw, "ro-map") == 0);
	close(ro);
	close(rw);
}

static void test_sync_and_splice(void)
{
	int fd = rams_open_segment("spliced", 4 * kPage, RAMS_ATTACH_CREATE);
	int tmp = open("/tmp/rams-splice", O_RDWR | O_CREAT | O_TRUNC, 0600);
	int pipefd[2];
	char buf[64] = { 0 };
	off_t off = 0;
	loff_t in_off = 0, out_off = 2 * kPage;
	char *p;

	CHECK(tmp >= 0 && pipe(pipefd) == 0);
	CHECK(fsync(fd) == 0 && fdatasync(fd) == 0);
	p = mmap(NULL, 4 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	memcpy(p, "mapped then sent", 16);
	CHECK(msync(p, 4 * kPage, MS_SYNC) == 0);
	/* segment -> file and file -> segment by sendfile */
	CHECK(sendfile(tmp, fd, &off, 16) == 16 && off == 16);
	CHECK(pread(tmp, buf, 16, 0) == 16 && memcmp(buf, "mapped then sent", 16) == 0);
	CHECK(lseek(fd, 2 * kPage, SEEK_SET) == 2 * kPage);
	off = 0;
	CHECK(sendfile(fd, tmp, &off, 16) == 16);
	CHECK(memcmp(p + 2 * kPage, "mapped then sent", 16) == 0);
	/* The VFS allows copy_file_range between regular files only. */
	CHECK_ERR(copy_file_range(tmp, &in_off, fd, &out_off, 16, 0), EINVAL);
	/* pipe -> segment and segment -> pipe by splice */
	CHECK(write(pipefd[1], "through a pipe", 14) == 14);
	out_off = 3 * kPage;
	CHECK(splice(pipefd[0], NULL, fd, &out_off, 14, 0) == 14);
	CHECK(memcmp(p + 3 * kPage, "through a pipe", 14) == 0);
	in_off = 3 * kPage;
	CHECK(splice(fd, &in_off, pipefd[1], NULL, 14, 0) == 14);
	memset(buf, 0, sizeof(buf));
	CHECK(read(pipefd[0], buf, 14) == 14 && memcmp(buf, "through a pipe", 14) == 0);
	CHECK(munmap(p, 4 * kPage) == 0);
	CHECK(rams_remove_name(fd, "spliced") == 0);
	close(pipefd[0]);
	close(pipefd[1]);
	close(tmp);
	unlink("/tmp/rams-splice");
	close(fd);
}

/* A lease of 2 writes survives one writev of 3 iovecs, and ends with the second call. */
static void test_writev_is_one_write(void)
{
	int a = rams_open_segment("vec", kPage, RAMS_ATTACH_CREATE);
	int b = rams_open_segment("vec", 0, 0);
	struct iovec iov[3] = {
		{ .iov_base = "one ", .iov_len = 4 },
		{ .iov_base = "two ", .iov_len = 4 },
		{ .iov_base = "three", .iov_len = 5 },
	};
	struct rams_lock l;
	char buf[16] = { 0 };

	CHECK(rams_lock_range(a, 0, 64, 2, 0, 0, &l) == 0);
	CHECK(pwritev(a, iov, 3, 0) == 13);
	CHECK(rams_locked_id(a, l.id) == 1);
	CHECK_ERR(pwrite(b, "x", 1, 0), EBUSY);
	CHECK(pwritev(a, iov, 3, 13) == 13);
	CHECK(rams_locked_id(a, l.id) == 0);
	CHECK(pread(b, buf, 13, 13) == 13 && memcmp(buf, "one two three", 13) == 0);
	CHECK(rams_remove_name(a, "vec") == 0);
	close(a);
	close(b);
}

static void test_ascii_names(void)
{
	int fd = rams_open_dev();

	CHECK_ERR(rams_attach_fd(fd, "caf\xe9", kPage, 0600, RAMS_ATTACH_CREATE), EINVAL);
	CHECK_ERR(rams_attach_fd(fd, "\xc0\xc1", kPage, 0600, RAMS_ATTACH_CREATE), EINVAL);
	CHECK_ERR(rams_attach_fd(fd, "a b", kPage, 0600, RAMS_ATTACH_CREATE), EINVAL);
	CHECK(rams_attach_fd(fd, "Az09._-", kPage, 0600, RAMS_ATTACH_CREATE) == 0);
	CHECK(rams_remove_name(fd, "Az09._-") == 0);
	close(fd);
}

static void test_mmap_limit_edges(void)
{
	uint64_t old = param("max_segment_bytes");
	int fd = rams_open_segment("edges", 4 * kPage, RAMS_ATTACH_CREATE);
	void *p;

	set_param("max_segment_bytes", ~0ULL); /* PAGE_ALIGN would wrap to 0 */
	p = mmap(NULL, 4 * kPage, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED && munmap(p, 4 * kPage) == 0);
	set_param("max_segment_bytes", kPage); /* lowered below an existing segment */
	p = mmap(NULL, 4 * kPage, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED && munmap(p, 4 * kPage) == 0);
	CHECK_ERR(mmap(NULL, 5 * kPage, PROT_READ, MAP_SHARED, fd, 0), EINVAL);
	set_param("max_segment_bytes", old);
	CHECK(rams_remove_name(fd, "edges") == 0);
	close(fd);
}

/* ATTACH whose result cannot be copied back (the argument is read-only) creates nothing. */
static void test_attach_undo(void)
{
	struct rams_attach *a = mmap(NULL, kPage, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd = rams_open_dev();
	uint64_t before = rams_get_stats().segments;

	CHECK(a != MAP_FAILED);
	strcpy(a->name, "undone");
	a->size = kPage;
	a->mode = 0600;
	a->flags = RAMS_ATTACH_CREATE;
	CHECK(mprotect(a, kPage, PROT_READ) == 0);
	CHECK_ERR(ioctl(fd, RAMS_IOC_ATTACH, a), EFAULT);
	close(fd);
	fd = rams_open_dev();
	CHECK_ERR(rams_attach_fd(fd, "undone", 0, 0, 0), ENOENT);
	close(fd);
	CHECK(rams_get_stats().segments == before);
	munmap(a, kPage);
}

/* Number of segments LIST shows; whether /proc/rams names `name`. */
static uint32_t list_count(void)
{
	struct rams_list l;
	int fd = rams_open_dev();

	memset(&l, 0, sizeof(l));
	CHECK(ioctl(fd, RAMS_IOC_LIST, &l) == 0);
	close(fd);
	return l.count;
}

static int proc_shows(const char *name)
{
	char line[256], want[80];
	FILE *f = fopen("/proc/rams", "r");
	int found = 0;

	CHECK(f != NULL);
	snprintf(want, sizeof(want), "segment %s ", name);
	while (fgets(line, sizeof(line), f))
		found |= strncmp(line, want, strlen(want)) == 0;
	fclose(f);
	return found;
}

static void sees_only_readable(void)
{
	CHECK(list_count() == 1);
	CHECK(proc_shows("seen") && !proc_shows("hidden"));
}

static void in_new_ipc_namespace(void)
{
	int fd, fd2;

	CHECK(unshare(CLONE_NEWIPC) == 0);
	CHECK(list_count() == 0 && !proc_shows("seen"));
	fd = rams_open_dev();
	CHECK_ERR(rams_attach_fd(fd, "seen", 0, 0, RAMS_ATTACH_RDONLY), ENOENT);
	CHECK_ERR(rams_remove_name(fd, "seen"), ENOENT);
	CHECK(rams_attach_fd(fd, "seen", 2 * kPage, 0600,
			     RAMS_ATTACH_CREATE | RAMS_ATTACH_EXCL) == 0);
	CHECK(pwrite(fd, "inner", 5, 0) == 5);
	fd2 = rams_open_segment("seen", 2 * kPage, 0);
	CHECK(list_count() == 1 && proc_shows("seen"));
	CHECK(rams_remove_name(fd, "seen") == 0);
	close(fd);
	close(fd2);
}

static void test_visibility_and_namespaces(void)
{
	int seen = rams_open_dev(), hidden = rams_open_dev();
	struct rams_info info;

	CHECK(rams_attach_fd(seen, "seen", kPage, 0644, RAMS_ATTACH_CREATE) == 0);
	CHECK(rams_attach_fd(hidden, "hidden", kPage, 0600, RAMS_ATTACH_CREATE) == 0);
	CHECK(list_count() == 2 && proc_shows("seen") && proc_shows("hidden")); /* root: all */
	as_other_user(sees_only_readable);
	rams_run_child(in_new_ipc_namespace);
	CHECK(ioctl(seen, RAMS_IOC_INFO, &info) == 0 && info.size == kPage && !info.flags);
	CHECK(rams_remove_name(seen, "seen") == 0 && rams_remove_name(seen, "hidden") == 0);
	close(seen);
	close(hidden);
}

static void orphan_in_new_namespace(void)
{
	int fd;

	CHECK(unshare(CLONE_NEWIPC) == 0);
	fd = rams_open_segment("orphan", 4 * kPage, RAMS_ATTACH_CREATE | RAMS_ATTACH_EXCL);
	CHECK(pwrite(fd, "left behind", 11, 0) == 11);
	close(fd);
	/* Exiting drops the last task's reference to the namespace. */
}

/* The names of a namespace whose last task exited are dropped at the next creation. */
static void test_dead_namespace_names_dropped(void)
{
	uint64_t before = rams_get_stats().segments;
	int fd;

	rams_run_child(orphan_in_new_namespace);
	CHECK(rams_get_stats().segments == before + 1);
	fd = rams_open_segment("trigger", kPage, RAMS_ATTACH_CREATE);
	CHECK(rams_get_stats().segments == before + 1); /* "trigger" only */
	CHECK(rams_remove_name(fd, "trigger") == 0);
	close(fd);
	CHECK(rams_get_stats().segments == before);
}

/* Stops and continues `pid` a few times while it blocks. */
static void stop_cont(pid_t pid)
{
	for (int i = 0; i < 3; i++) {
		usleep(100000);
		CHECK(kill(pid, SIGSTOP) == 0);
		usleep(50000);
		CHECK(kill(pid, SIGCONT) == 0);
	}
	usleep(100000);
}

static void test_restart_after_stop(void)
{
	int fd = rams_open_segment("stopped", kPage, RAMS_ATTACH_CREATE);
	struct rams_lock held;
	pid_t locker, timed, waiter;
	uint32_t one = 1;

	CHECK(rams_lock_range(fd, 0, 8, 0, 0, 0, &held) == 0);
	locker = fork();
	CHECK(locker >= 0);
	if (locker == 0) {
		int c = rams_open_segment("stopped", 0, 0);

		CHECK(rams_lock_range(c, 0, 8, 0, 0, 0, NULL) == 0);
		_exit(0);
	}
	timed = fork();
	CHECK(timed >= 0);
	if (timed == 0) {
		int c = rams_open_segment("stopped", 0, 0);

		CHECK(rams_lock_range(c, 4, 8, 0, RAMS_LOCK_TIMEOUT, 60000000000LL, NULL) == 0);
		_exit(0);
	}
	waiter = fork();
	CHECK(waiter >= 0);
	if (waiter == 0) {
		int c = rams_open_segment("stopped", 0, 0);
		struct rams_wait w = { .offset = 64, .expected = 0 };

		CHECK(ioctl(c, RAMS_IOC_WAIT, &w) == 0);
		_exit(0);
	}
	stop_cont(locker);
	stop_cont(timed);
	stop_cont(waiter);
	CHECK(rams_unlock_id(fd, held.id) == 0);
	CHECK(pwrite(fd, &one, 4, 64) == 4);
	{
		struct rams_wake k = { .offset = 64, .count = 1 };

		CHECK(ioctl(fd, RAMS_IOC_WAKE, &k) == 1); /* still waiting, after the stops */
	}
	rams_reap_ok(waiter);
	rams_reap_ok(locker);
	rams_reap_ok(timed);
	CHECK(rams_remove_name(fd, "stopped") == 0);
	close(fd);
}

/* Waits until cgroup.events of `cg` says "frozen <state>". */
static void await_frozen(const char *cg, int state)
{
	char path[128], want[16], buf[256];

	snprintf(path, sizeof(path), kCgroups "/%s/cgroup.events", cg);
	snprintf(want, sizeof(want), "frozen %d", state);
	for (int i = 0; i < 1000; i++) {
		int fd = open(path, O_RDONLY);
		ssize_t n;

		CHECK(fd >= 0);
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		CHECK(n > 0);
		buf[n] = 0;
		if (strstr(buf, want))
			return;
		usleep(10000);
	}
	fprintf(stderr, "%s never showed '%s'\n", path, want);
	exit(1);
}

static void lock_in_freezer_cgroup(void)
{
	int c;

	cgroup_join("rams-freeze");
	c = rams_open_segment("frozen", 0, 0);
	CHECK(rams_lock_range(c, 0, 8, 0, 0, 0, NULL) == 0);
}

/* A LOCK blocked in a cgroup that is frozen and thawed (cgroup2's freezer) goes on waiting. */
static void test_restart_after_freeze(void)
{
	int fd = rams_open_segment("frozen", kPage, RAMS_ATTACH_CREATE);
	struct rams_lock held;
	pid_t locker;

	setup_cgroups();
	cgroup_make("rams-freeze");
	CHECK(rams_lock_range(fd, 0, 8, 0, 0, 0, &held) == 0);
	locker = fork();
	CHECK(locker >= 0);
	if (locker == 0) {
		lock_in_freezer_cgroup();
		_exit(0);
	}
	usleep(200000);
	write_file(kCgroups "/rams-freeze/cgroup.freeze", "1");
	await_frozen("rams-freeze", 1);
	write_file(kCgroups "/rams-freeze/cgroup.freeze", "0");
	await_frozen("rams-freeze", 0);
	usleep(100000);
	CHECK(waitpid(locker, NULL, WNOHANG) == 0); /* still waiting for the lock */
	CHECK(rams_unlock_id(fd, held.id) == 0);
	rams_reap_ok(locker);
	CHECK(rams_remove_name(fd, "frozen") == 0);
	close(fd);
}

static void test_lock_timeout_not_early(void)
{
	int a = rams_open_segment("timed", kPage, RAMS_ATTACH_CREATE);
	int b = rams_open_segment("timed", 0, 0);
	struct timespec t0, t1;
	struct rams_lock l;
	int64_t elapsed_ns;

	CHECK(rams_lock_range(a, 0, 1, 0, 0, 0, &l) == 0);
	for (int i = 0; i < 5; i++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		CHECK_ERR(rams_lock_range(b, 0, 1, 0, RAMS_LOCK_TIMEOUT, 1000000, NULL), ETIMEDOUT);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		elapsed_ns = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
		fprintf(stderr, "LOCK timeout 1 ms took %lld us\n", (long long)(elapsed_ns / 1000));
		CHECK(elapsed_ns >= 1000000);
	}
	CHECK(rams_remove_name(a, "timed") == 0);
	close(a);
	close(b);
}

static const struct {
	const char *name;
	void (*fn)(void);
} kCases[] = {
	{ "readonly_shared_mapping", test_readonly_shared_mapping },
	{ "sync_and_splice", test_sync_and_splice },
	{ "writev_is_one_write", test_writev_is_one_write },
	{ "ascii_names", test_ascii_names },
	{ "mmap_limit_edges", test_mmap_limit_edges },
	{ "attach_undo", test_attach_undo },
	{ "visibility_and_namespaces", test_visibility_and_namespaces },
	{ "dead_namespace_names_dropped", test_dead_namespace_names_dropped },
	{ "restart_after_stop", test_restart_after_stop },
	{ "restart_after_freeze", test_restart_after_freeze },
	{ "lock_timeout_not_early", test_lock_timeout_not_early },
};

/* Each case in its own child, so that one failure does not hide the others. */
int main(void)
{
	struct rams_stats s;
	int failed = 0;

	for (size_t i = 0; i < sizeof(kCases) / sizeof(kCases[0]); i++) {
		pid_t pid = fork();
		int status;

		CHECK(pid >= 0);
		if (pid == 0) {
			kCases[i].fn();
			_exit(0);
		}
		CHECK(waitpid(pid, &status, 0) == pid);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "case %s failed (status 0x%x)\n", kCases[i].name, status);
			failed = 1;
		}
	}
	s = rams_get_stats();
	CHECK(s.segments == 0 && s.pages == 0 && s.handles == 0 && s.leases == 0 &&
	      s.waiters == 0);
	return failed;
}
