// SPDX-License-Identifier: MIT
/*
 * The limits bound memory: a segment counts against max_segments and
 * max_total_bytes until it is destroyed (REMOVE with handles still attached
 * frees nothing), each uid has its own max_user_segments/max_user_bytes
 * (EDQUOT), and the default total is a fraction of RAM, not a constant.
 */
#define _GNU_SOURCE
#include <sys/sysinfo.h>

#include "rams_test.h"

#define kPage 4096

static void test_defaults(void)
{
	struct rams_version v;
	struct sysinfo si;
	uint64_t ram;
	int fd = rams_open_dev();

	CHECK(sysinfo(&si) == 0);
	ram = (uint64_t)si.totalram * si.mem_unit;
	CHECK(ioctl(fd, RAMS_IOC_VERSION, &v) == 0);
	fprintf(stderr, "ram %llu max_total_bytes %llu max_user_bytes %llu\n",
		(unsigned long long)ram, (unsigned long long)v.max_total_bytes,
		(unsigned long long)v.max_user_bytes);
	CHECK(v.max_total_bytes == ram / 2);
	CHECK(v.max_user_bytes == ram / 4);
	CHECK(v.max_user_segments == param("max_user_segments") && v.max_user_segments > 0);
	close(fd);
}

/* With max_segments=1 and 8 KiB in all, a removed but attached segment still counts. */
static void test_removed_still_counts(void)
{
	uint64_t old_segments = param("max_segments"), old_total = param("max_total_bytes");
	int a = rams_open_dev(), b = rams_open_dev();
	struct rams_stats s;

	set_param("max_segments", 1);
	set_param("max_total_bytes", 2 * kPage);
	CHECK(rams_attach_fd(a, "held", kPage, 0600, RAMS_ATTACH_CREATE) == 0);
	CHECK(rams_remove_name(a, "held") == 0);
	/* The old module let one uid hold any number of these. */
	CHECK_ERR(rams_attach_fd(b, "next", kPage, 0600, RAMS_ATTACH_CREATE), ENOSPC);
	close(a); /* destroyed now */
	CHECK(rams_attach_fd(b, "next", 2 * kPage, 0600, RAMS_ATTACH_CREATE) == 0);
	CHECK(rams_remove_name(b, "next") == 0);
	set_param("max_segments", 16);
	a = rams_open_dev();
	CHECK_ERR(rams_attach_fd(a, "more", kPage, 0600, RAMS_ATTACH_CREATE), ENOSPC); /* bytes */
	close(b);
	CHECK(rams_attach_fd(a, "more", kPage, 0600, RAMS_ATTACH_CREATE) == 0);
	CHECK(rams_remove_name(a, "more") == 0);
	close(a);
	set_param("max_segments", old_segments);
	set_param("max_total_bytes", old_total);
	s = rams_get_stats();
	CHECK(s.segments == 0 && s.reserved_bytes == 0);
}

/* Uid 1000 may have 2 segments or 8 KiB; root is another uid, counted apart. */
static void user_limited(void)
{
	int fds[3], i;

	for (i = 0; i < 3; i++)
		fds[i] = rams_open_dev();
	CHECK(rams_attach_fd(fds[0], "u1", kPage, 0600, RAMS_ATTACH_CREATE) == 0);
	CHECK(rams_attach_fd(fds[1], "u2", kPage, 0600, RAMS_ATTACH_CREATE) == 0);
	CHECK_ERR(rams_attach_fd(fds[2], "u3", kPage, 0600, RAMS_ATTACH_CREATE), EDQUOT);
	CHECK(rams_remove_name(fds[1], "u2") == 0);
	close(fds[1]);
	CHECK_ERR(rams_attach_fd(fds[2], "u3", 2 * kPage, 0600, RAMS_ATTACH_CREATE), EDQUOT);
	CHECK(rams_attach_fd(fds[2], "u3", kPage, 0600, RAMS_ATTACH_CREATE) == 0);
	CHECK(rams_remove_name(fds[0], "u1") == 0 && rams_remove_name(fds[0], "u3") == 0);
	close(fds[0]);
	close(fds[2]);
}

static void test_per_user(void)
{
	uint64_t old_segments = param("max_user_segments"), old_bytes = param("max_user_bytes");
	int r1 = rams_open_dev(), r2 = rams_open_dev(), r3 = rams_open_dev();

	set_param("max_user_segments", 2);
	set_param("max_user_bytes", 2 * kPage);
	as_other_user(user_limited);
	CHECK(rams_attach_fd(r1, "r1", kPage, 0600, RAMS_ATTACH_CREATE) == 0);
	CHECK(rams_attach_fd(r2, "r2", kPage, 0600, RAMS_ATTACH_CREATE) == 0);
	CHECK_ERR(rams_attach_fd(r3, "r3", kPage, 0600, RAMS_ATTACH_CREATE), EDQUOT);
	CHECK(rams_remove_name(r1, "r1") == 0 && rams_remove_name(r1, "r2") == 0);
	close(r1);
	close(r2);
	close(r3);
	set_param("max_user_segments", old_segments);
	set_param("max_user_bytes", old_bytes);
}

int main(void)
{
	struct rams_stats s;

	test_defaults();
	test_removed_still_counts();
	test_per_user();
	s = rams_get_stats();
	CHECK(s.segments == 0 && s.pages == 0 && s.handles == 0 && s.reserved_bytes == 0);
	return 0;
}
