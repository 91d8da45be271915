// SPDX-License-Identifier: MIT
/*
 * mmap of a segment: shared with read/write, lazily allocated pages, SIGBUS
 * past the end, survival across fork and close, dropped on exit; poll
 * readiness after writes; read/write/lseek at the edges.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>

#include "rams_test.h"

#define kPage 4096

static void test_map_fork_exit(void)
{
	const uint64_t size = 3 * kPage + 100; /* 4 pages, the last one partial */
	int fd = rams_open_segment("map", size, RAMS_ATTACH_CREATE | RAMS_ATTACH_EXCL);
	struct rams_info info;
	uint32_t v = 0;
	char *p;
	pid_t pid;
	int status;

	p = mmap(NULL, 5 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	CHECK(ioctl(fd, RAMS_IOC_INFO, &info) == 0);
	CHECK(info.pages == 0); /* nothing touched yet */
	strcpy(p + kPage + 5, "through mmap");
	CHECK(ioctl(fd, RAMS_IOC_INFO, &info) == 0);
	CHECK(info.pages == 1);
	{
		char buf[32] = { 0 };

		CHECK(pread(fd, buf, 12, kPage + 5) == 12);
		CHECK(memcmp(buf, "through mmap", 12) == 0);
		CHECK(pwrite(fd, "via write", 9, 3 * kPage + 90) == 9); /* crosses nothing, ends at 99 */
		CHECK(memcmp(p + 3 * kPage + 90, "via write", 9) == 0);
	}
	/* The descriptor may go; the mapping keeps the segment. */
	close(fd);

	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		memcpy(p + 2 * kPage, "child", 5);
		_exit(0);
	}
	rams_reap_ok(pid);
	CHECK(memcmp(p + 2 * kPage, "child", 5) == 0);

	/* The partial last page is mapped; the page after it is past the end. */
	p[3 * kPage + kPage - 1] = 1;
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		p[4 * kPage] = 1;
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS);

	/* A child that execs drops the mapping; the parent's stays. */
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(3);
	}
	rams_reap_ok(pid);
	memcpy(&v, p + kPage + 5, sizeof(v));
	CHECK(memcmp(&v, "thro", 4) == 0);

	fd = rams_open_segment("map", 0, 0);
	CHECK(rams_remove_name(fd, "map") == 0);
	CHECK(ioctl(fd, RAMS_IOC_INFO, &info) == 0);
	CHECK(info.flags & RAMS_INFO_REMOVED);
	close(fd);
	CHECK(rams_get_stats().segments == 1); /* the mapping holds it */
	CHECK(munmap(p, 5 * kPage) == 0);
	CHECK(rams_get_stats().segments == 0);
}

static void test_map_errors(void)
{
	int fd = rams_open_segment("maperr", 2 * kPage, RAMS_ATTACH_CREATE);
	int ro = rams_open_segment("maperr", 0, RAMS_ATTACH_RDONLY);
	void *p;

	CHECK_ERR(mmap(NULL, kPage, PROT_READ, MAP_PRIVATE, fd, 0), EINVAL);
	CHECK_ERR(mmap(NULL, kPage, PROT_READ, MAP_SHARED, fd, 2 * kPage), EINVAL);
	CHECK_ERR(mmap(NULL, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0), EACCES);
	p = mmap(NULL, kPage, PROT_READ, MAP_SHARED, ro, 0);
	CHECK(p != MAP_FAILED);
	CHECK_ERR(mprotect(p, kPage, PROT_READ | PROT_WRITE), EACCES);
	CHECK(munmap(p, kPage) == 0);
	p = mmap(NULL, kPage, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	CHECK_ERR(mremap(p, kPage, 2 * kPage, 0), EFAULT); /* VM_DONTEXPAND */
	CHECK(munmap(p, kPage) == 0);
	CHECK(rams_remove_name(fd, "maperr") == 0);
	close(ro);
	close(fd);
}

static void test_poll_and_edges(void)
{
	int a = rams_open_segment("edge", 1000, RAMS_ATTACH_CREATE);
	int b = rams_open_segment("edge", 1000, 0);
	struct pollfd pfd = { .fd = a, .events = POLLIN };
	char buf[2000];

	CHECK(poll(&pfd, 1, 0) == 0);
	CHECK(pwrite(b, "x", 1, 10) == 1);
	CHECK(poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN));
	CHECK(pread(a, buf, 1, 10) == 1 && buf[0] == 'x');
	CHECK(poll(&pfd, 1, 0) == 0);

	CHECK(lseek(a, 0, SEEK_END) == 1000);
	CHECK(read(a, buf, 10) == 0);
	CHECK_ERR(write(a, buf, 10), ENOSPC);
	CHECK(lseek(a, 995, SEEK_SET) == 995);
	CHECK(write(a, "0123456789", 10) == 5); /* short at the end */
	CHECK(pread(a, buf, 2000, 0) == 1000);
	CHECK(memcmp(buf + 995, "01234", 5) == 0);
	CHECK_ERR(lseek(a, -1, SEEK_SET), EINVAL);
	CHECK_ERR(lseek(a, 1001, SEEK_SET), EINVAL);
	CHECK(rams_remove_name(a, "edge") == 0);
	close(a);
	close(b);
}

int main(void)
{
	test_map_fork_exit();
	test_map_errors();
	test_poll_and_edges();
	{
		struct rams_stats s = rams_get_stats();

		CHECK(s.segments == 0 && s.pages == 0 && s.handles == 0 && s.reserved_bytes == 0);
	}
	return 0;
}
