// SPDX-License-Identifier: MIT
/*
 * Bad input gets a clean errno, never an oops: unknown commands and flags,
 * non-zero reserved fields, offsets past the end, sizes of zero or over the
 * limits, bad names, misaligned wait words, private or oversized mappings,
 * bad pointers, and another uid without permission.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "rams_test.h"

static void test_attach_errors(void)
{
	int fd = rams_open_dev(), fd2;
	struct rams_attach a;
	char name[80];

	CHECK_ERR(ioctl(fd, _IO(RAMS_IOC_MAGIC, 0x7f), 0), ENOTTY);
	CHECK_ERR(ioctl(fd, _IOR('x', 0x01, struct rams_attach), &a), ENOTTY);
	CHECK_ERR(ioctl(fd, RAMS_IOC_ATTACH, NULL), EFAULT);
	CHECK_ERR(rams_attach_fd(fd, "a", 4096, 0600, RAMS_ATTACH_CREATE | (1U << 20)), EINVAL);
	CHECK_ERR(rams_attach_fd(fd, "a", 4096, 01600, RAMS_ATTACH_CREATE), EINVAL);
	CHECK_ERR(rams_attach_fd(fd, "a", 4096, 0600, RAMS_ATTACH_EXCL), EINVAL);
	memset(&a, 0, sizeof(a));
	strcpy(a.name, "a");
	a.size = 4096;
	a.flags = RAMS_ATTACH_CREATE;
	a.reserved[1] = 1;
	CHECK_ERR(ioctl(fd, RAMS_IOC_ATTACH, &a), EINVAL);
	a.reserved[1] = 0;
	a.reserved0 = 1;
	CHECK_ERR(ioctl(fd, RAMS_IOC_ATTACH, &a), EINVAL);
	memset(a.name, 'n', sizeof(a.name)); /* not terminated */
	a.reserved0 = 0;
	CHECK_ERR(ioctl(fd, RAMS_IOC_ATTACH, &a), ENAMETOOLONG);
	memset(name, 'n', sizeof(name));
	name[63] = 0; /* the longest valid name */
	fd2 = rams_open_dev();
	CHECK(rams_attach_fd(fd2, name, 4096, 0600, RAMS_ATTACH_CREATE) == 0);
	CHECK(rams_remove_name(fd2, name) == 0);
	close(fd2);
	CHECK_ERR(rams_attach_fd(fd, "", 4096, 0600, RAMS_ATTACH_CREATE), EINVAL);
	CHECK_ERR(rams_attach_fd(fd, "a/b", 4096, 0600, RAMS_ATTACH_CREATE), EINVAL);
	CHECK_ERR(rams_attach_fd(fd, ".hidden", 4096, 0600, RAMS_ATTACH_CREATE), EINVAL);
	CHECK_ERR(rams_attach_fd(fd, "a", 0, 0600, RAMS_ATTACH_CREATE), EINVAL);
	CHECK_ERR(rams_attach_fd(fd, "a", param("max_segment_bytes") + 1, 0600,
				 RAMS_ATTACH_CREATE), EFBIG);
	CHECK_ERR(rams_attach_fd(fd, "a", ~0ULL, 0600, RAMS_ATTACH_CREATE), EFBIG);
	CHECK_ERR(rams_attach_fd(fd, "missing", 0, 0600, 0), ENOENT);
	CHECK(rams_attach_fd(fd, "a", 4096, 0600, RAMS_ATTACH_CREATE | RAMS_ATTACH_EXCL) == 0);
	CHECK_ERR(rams_attach_fd(fd, "a", 4096, 0600, RAMS_ATTACH_CREATE), EISCONN);
	fd2 = rams_open_dev();
	CHECK_ERR(rams_attach_fd(fd2, "a", 4096, 0600, RAMS_ATTACH_CREATE | RAMS_ATTACH_EXCL), EEXIST);
	CHECK_ERR(rams_attach_fd(fd2, "a", 8192, 0600, 0), EINVAL);
	CHECK_ERR(rams_remove_name(fd2, "missing"), ENOENT);
	{
		struct rams_remove r = { .name = "a", .reserved = 1 };

		CHECK_ERR(ioctl(fd2, RAMS_IOC_REMOVE, &r), EINVAL);
	}
	close(fd2);
	CHECK(rams_remove_name(fd, "a") == 0);
	close(fd);
	/* An O_RDONLY descriptor attaches read-only only. */
	fd = open(RAMS_DEVICE_PATH, O_RDONLY);
	CHECK(fd >= 0);
	CHECK_ERR(rams_attach_fd(fd, "b", 4096, 0600, RAMS_ATTACH_CREATE), EBADF);
	close(fd);
}

static void test_unattached(void)
{
	int fd = rams_open_dev();
	struct rams_info info;
	char buf[8];

	CHECK_ERR(read(fd, buf, 8), ENOTCONN);
	CHECK_ERR(write(fd, buf, 8), ENOTCONN);
	CHECK_ERR(lseek(fd, 0, SEEK_SET), ENOTCONN);
	CHECK_ERR(ioctl(fd, RAMS_IOC_INFO, &info), ENOTCONN);
	CHECK_ERR(rams_lock_range(fd, 0, 1, 0, 0, 0, NULL), ENOTCONN);
	CHECK_ERR(mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0), ENOTCONN);
	close(fd);
}

static void test_segment_call_errors(void)
{
	int fd = rams_open_segment("bad", 4096, RAMS_ATTACH_CREATE);
	struct rams_lock l;
	struct rams_wait w;
	struct rams_wake k;
	struct rams_list list;
	char buf[16];

	CHECK_ERR(rams_lock_range(fd, 0, 1, 0, 1U << 7, 0, NULL), EINVAL);
	CHECK_ERR(rams_lock_range(fd, 0, 0, 0, 0, 0, NULL), EINVAL);
	CHECK_ERR(rams_lock_range(fd, 4096, 1, 0, 0, 0, NULL), EINVAL);
	CHECK_ERR(rams_lock_range(fd, 10, ~0ULL - 5, 0, 0, 0, NULL), EINVAL);
	CHECK_ERR(rams_lock_range(fd, 0, 1, 0, 0, 5, NULL), EINVAL); /* timeout without flag */
	CHECK_ERR(rams_lock_range(fd, 0, 1, 0, RAMS_LOCK_TIMEOUT, -1, NULL), EINVAL);
	memset(&l, 0, sizeof(l));
	l.len = 1;
	l.reserved[0] = 9;
	CHECK_ERR(ioctl(fd, RAMS_IOC_LOCK, &l), EINVAL);
	CHECK(rams_lock_range(fd, 0, 100, 0, 0, 0, &l) == 0);
	CHECK_ERR(rams_lock_range(fd, 50, 100, 0, 0, 0, NULL), EDEADLK);
	CHECK_ERR(rams_unlock_id(fd, l.id + 1000), ENOENT);
	{
		struct rams_lock_ref r = { .id = l.id, .reserved = 1 };

		CHECK_ERR(ioctl(fd, RAMS_IOC_UNLOCK, &r), EINVAL);
	}
	CHECK(rams_unlock_id(fd, l.id) == 0);

	memset(&w, 0, sizeof(w));
	w.offset = 2;
	CHECK_ERR(ioctl(fd, RAMS_IOC_WAIT, &w), EINVAL);
	w.offset = 4096;
	CHECK_ERR(ioctl(fd, RAMS_IOC_WAIT, &w), EINVAL);
	w.offset = ~0ULL - 3;
	CHECK_ERR(ioctl(fd, RAMS_IOC_WAIT, &w), EINVAL);
	w.offset = 0;
	w.flags = 1U << 5;
	CHECK_ERR(ioctl(fd, RAMS_IOC_WAIT, &w), EINVAL);
	w.flags = 0;
	w.reserved = 1;
	CHECK_ERR(ioctl(fd, RAMS_IOC_WAIT, &w), EINVAL);
	w.reserved = 0;
	w.expected = 1; /* the word is 0 */
	CHECK_ERR(ioctl(fd, RAMS_IOC_WAIT, &w), EAGAIN);
	w.expected = 0;
	w.flags = RAMS_WAIT_TIMEOUT;
	w.timeout_ns = 1000000;
	CHECK_ERR(ioctl(fd, RAMS_IOC_WAIT, &w), ETIMEDOUT);
	memset(&k, 0, sizeof(k));
	k.offset = 1;
	CHECK_ERR(ioctl(fd, RAMS_IOC_WAKE, &k), EINVAL);
	k.offset = 0;
	k.flags = 1;
	CHECK_ERR(ioctl(fd, RAMS_IOC_WAKE, &k), EINVAL);
	k.flags = 0;
	k.count = 5;
	CHECK(ioctl(fd, RAMS_IOC_WAKE, &k) == 0);

	CHECK(pread(fd, buf, 8, 4096) == 0);
	CHECK(pread(fd, buf, 8, 1ULL << 40) == 0);
	CHECK_ERR(pwrite(fd, buf, 8, 4096), ENOSPC);
	CHECK_ERR(pread(fd, buf, 8, -1), EINVAL);
	{
		char *volatile bad = (char *)8; /* an unmapped user address */

		CHECK_ERR(read(fd, bad, 8), EFAULT);
		CHECK_ERR(write(fd, bad, 8), EFAULT);
	}
	CHECK_ERR(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0), EINVAL);
	CHECK_ERR(mmap(NULL, param("max_segment_bytes") + (1 << 20), PROT_READ, MAP_SHARED, fd, 0),
		  EINVAL);
	CHECK_ERR(mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 1 << 20), EINVAL);

	memset(&list, 0, sizeof(list));
	list.entries = 8;
	list.capacity = 4;
	CHECK_ERR(ioctl(fd, RAMS_IOC_LIST, &list), EFAULT);
	list.entries = 0;
	list.capacity = 0;
	CHECK(ioctl(fd, RAMS_IOC_LIST, &list) == 0 && list.count == 1);
	list.reserved[0] = 1;
	CHECK_ERR(ioctl(fd, RAMS_IOC_LIST, &list), EINVAL);
	CHECK(rams_remove_name(fd, "bad") == 0);
	close(fd);
}

static void test_limits(void)
{
	uint64_t old_segments = param("max_segments"), old_total = param("max_total_bytes");
	int a = rams_open_dev(), b = rams_open_dev(), c = rams_open_dev();

	set_param("max_segments", 2);
	CHECK(rams_attach_fd(a, "l1", 4096, 0600, RAMS_ATTACH_CREATE) == 0);
	CHECK(rams_attach_fd(b, "l2", 4096, 0600, RAMS_ATTACH_CREATE) == 0);
	CHECK_ERR(rams_attach_fd(c, "l3", 4096, 0600, RAMS_ATTACH_CREATE), ENOSPC);
	set_param("max_segments", old_segments);
	set_param("max_total_bytes", 3 * 4096);
	CHECK_ERR(rams_attach_fd(c, "l3", 4097, 0600, RAMS_ATTACH_CREATE), ENOSPC);
	CHECK(rams_attach_fd(c, "l3", 4096, 0600, RAMS_ATTACH_CREATE) == 0);
	set_param("max_total_bytes", old_total);
	CHECK(rams_remove_name(a, "l1") == 0 && rams_remove_name(a, "l2") == 0 &&
	      rams_remove_name(a, "l3") == 0);
	close(a);
	close(b);
	close(c);
}

static void other_user_checks(void)
{
	int fd = rams_open_dev(), ro;
	struct rams_info info;

	CHECK_ERR(rams_attach_fd(fd, "private", 0, 0, 0), EACCES);
	CHECK_ERR(rams_attach_fd(fd, "private", 0, 0, RAMS_ATTACH_RDONLY), EACCES);
	CHECK_ERR(rams_attach_fd(fd, "readable", 0, 0, 0), EACCES);
	CHECK_ERR(rams_remove_name(fd, "readable"), EPERM);
	CHECK(rams_attach_fd(fd, "readable", 0, 0, RAMS_ATTACH_RDONLY) == 0);
	CHECK(ioctl(fd, RAMS_IOC_INFO, &info) == 0 && info.uid == 0 && info.mode == 0644);
	CHECK_ERR(pwrite(fd, "x", 1, 0), EBADF);
	CHECK_ERR(rams_lock_range(fd, 0, 1, 0, 0, 0, NULL), EBADF);
	CHECK_ERR(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), EACCES);
	ro = rams_open_dev();
	CHECK(rams_attach_fd(ro, "mine", 4096, 0600, RAMS_ATTACH_CREATE) == 0);
	CHECK(ioctl(ro, RAMS_IOC_INFO, &info) == 0 && info.uid == 1000 && info.gid == 1000);
	CHECK(rams_remove_name(ro, "mine") == 0);
	close(ro);
	close(fd);
}

static void test_permissions(void)
{
	int p = rams_open_segment("private", 4096, RAMS_ATTACH_CREATE);
	int r = rams_open_dev();

	CHECK(rams_attach_fd(r, "readable", 4096, 0644, RAMS_ATTACH_CREATE) == 0);
	as_other_user(other_user_checks);
	CHECK(rams_remove_name(p, "private") == 0 && rams_remove_name(p, "readable") == 0);
	close(p);
	close(r);
}

int main(void)
{
	struct rams_stats s;

	test_attach_errors();
	test_unattached();
	test_segment_call_errors();
	test_limits();
	test_permissions();
	s = rams_get_stats();
	CHECK(s.segments == 0 && s.pages == 0 && s.handles == 0 && s.leases == 0 &&
	      s.reserved_bytes == 0);
	return 0;
}
