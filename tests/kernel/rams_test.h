/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the rams.ko tests that run inside the QEMU guest: checks that
 * print what failed and exit non-zero, and thin wrappers over /dev/rams.
 * Each test is a static program; exit 0 = pass, 77 = skipped, else failed.
 *
 * Thread safety: single-threaded test programs (processes fork freely).
 */
#ifndef RAMS_TEST_H
#define RAMS_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "uapi/rams.h"

#define CHECK(cond)                                                                \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(stderr, "%s:%d: CHECK failed: %s (errno %d %s)\n", \
				__FILE__, __LINE__, #cond, errno, strerror(errno));\
			exit(1);                                                   \
		}                                                                  \
	} while (0)

/* Expects `call` to fail with errno `err`. */
#define CHECK_ERR(call, err)                                                         \
	do {                                                                         \
		errno = 0;                                                           \
		long r_ = (long)(call);                                              \
		if (r_ != -1 || errno != (err)) {                                    \
			fprintf(stderr, "%s:%d: %s returned %ld errno %d (%s), want %s\n", \
				__FILE__, __LINE__, #call, r_, errno, strerror(errno), #err); \
			exit(1);                                                     \
		}                                                                    \
	} while (0)

static inline int rams_open_dev(void)
{
	int fd = open(RAMS_DEVICE_PATH, O_RDWR | O_CLOEXEC);

	CHECK(fd >= 0);
	return fd;
}

/* strlen(name), cut to what fits a terminated RAMS_NAME_BYTES field. */
static inline size_t rams_name_len(const char *name)
{
	size_t n = strlen(name);

	return n < RAMS_NAME_BYTES - 1 ? n : RAMS_NAME_BYTES - 1;
}

/* Returns the ioctl result; errno on failure. */
static inline int rams_attach_fd(int fd, const char *name, uint64_t size, uint32_t mode,
				 uint32_t flags)
{
	struct rams_attach a;

	memset(&a, 0, sizeof(a));
	memcpy(a.name, name, rams_name_len(name));
	a.size = size;
	a.mode = mode;
	a.flags = flags;
	return ioctl(fd, RAMS_IOC_ATTACH, &a);
}

/* A new descriptor attached to `name`, created with `size` when missing. */
static inline int rams_open_segment(const char *name, uint64_t size, uint32_t flags)
{
	int fd = rams_open_dev();

	CHECK(rams_attach_fd(fd, name, size, 0600, flags) == 0);
	return fd;
}

static inline int rams_lock_range(int fd, uint64_t off, uint64_t len, uint32_t writes,
				  uint32_t flags, int64_t timeout_ns, struct rams_lock *out)
{
	struct rams_lock l;

	memset(&l, 0, sizeof(l));
	l.offset = off;
	l.len = len;
	l.writes = writes;
	l.flags = flags;
	l.timeout_ns = timeout_ns;
	int r = ioctl(fd, RAMS_IOC_LOCK, &l);
	if (out)
		*out = l;
	return r;
}

static inline int rams_unlock_id(int fd, uint64_t id)
{
	struct rams_lock_ref r = { .id = id };

	return ioctl(fd, RAMS_IOC_UNLOCK, &r);
}

static inline int rams_locked_id(int fd, uint64_t id)
{
	struct rams_lock_ref r = { .id = id };

	return ioctl(fd, RAMS_IOC_LOCKED, &r);
}

static inline int rams_remove_name(int fd, const char *name)
{
	struct rams_remove r;

	memset(&r, 0, sizeof(r));
	memcpy(r.name, name, rams_name_len(name));
	return ioctl(fd, RAMS_IOC_REMOVE, &r);
}

static inline struct rams_stats rams_get_stats(void)
{
	struct rams_stats s;
	int fd = rams_open_dev();

	CHECK(ioctl(fd, RAMS_IOC_STATS, &s) == 0);
	close(fd);
	s.handles--; /* this descriptor */
	return s;
}

/* The module parameter `name` (/sys/module/rams/parameters/), read and written. */
static inline uint64_t param(const char *name)
{
	char path[128], buf[64] = { 0 };
	int fd;

	snprintf(path, sizeof(path), "/sys/module/rams/parameters/%s", name);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	CHECK(read(fd, buf, sizeof(buf) - 1) > 0);
	close(fd);
	return strtoull(buf, NULL, 10);
}

static inline void set_param(const char *name, uint64_t value)
{
	char path[128], buf[64];
	int fd, n;

	snprintf(path, sizeof(path), "/sys/module/rams/parameters/%s", name);
	fd = open(path, O_WRONLY);
	CHECK(fd >= 0);
	n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)value);
	CHECK(write(fd, buf, n) == n);
	close(fd);
}

/* Waits for child `pid`; CHECKs that it exited with status 0. */
static inline void rams_reap_ok(pid_t pid)
{
	int status;

	CHECK(waitpid(pid, &status, 0) == pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "child %d failed: status 0x%x\n", (int)pid, status);
		exit(1);
	}
}

/* Writes `text` to the file at `path` (sysfs, cgroupfs), or exits failing. */
static inline void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	ssize_t n = (ssize_t)strlen(text);

	if (fd < 0 || write(fd, text, n) != n) {
		fprintf(stderr, "writing '%s' to %s: %s\n", text, path, strerror(errno));
		exit(1);
	}
	close(fd);
}

/* cgroup2, mounted at kCgroups with the memory controller for children. */
#define kCgroups "/sys/fs/cgroup"

static inline void cgroup_make(const char *cg)
{
	char path[128];

	snprintf(path, sizeof(path), kCgroups "/%s", cg);
	CHECK(mkdir(path, 0755) == 0 || errno == EEXIST);
}

static inline void cgroup_join(const char *cg)
{
	char path[128], pid[32];

	snprintf(path, sizeof(path), kCgroups "/%s/cgroup.procs", cg);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	write_file(path, pid);
}

static inline void setup_cgroups(void)
{
	mkdir(kCgroups, 0755);
	if (mount("cgroup2", kCgroups, "cgroup2", 0, NULL) != 0)
		CHECK(errno == EBUSY);
	write_file(kCgroups "/cgroup.subtree_control", "+memory");
}

/* Runs `fn` in a child; CHECKs that it exited with status 0. */
static inline void rams_run_child(void (*fn)(void))
{
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		fn();
		_exit(0);
	}
	rams_reap_ok(pid);
}

/* Runs `fn` in a child with uid/gid 1000 and no capabilities. */
static inline void as_other_user(void (*fn)(void))
{
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		CHECK(setgid(1000) == 0 && setuid(1000) == 0);
		fn();
		_exit(0);
	}
	rams_reap_ok(pid);
}

/* One-byte messages between processes over a pipe. */
static inline void rams_signal(int fd)
{
	char c = 1;

	CHECK(write(fd, &c, 1) == 1);
}

static inline void rams_await(int fd)
{
	char c;

	CHECK(read(fd, &c, 1) == 1);
}

#endif /* RAMS_TEST_H */
