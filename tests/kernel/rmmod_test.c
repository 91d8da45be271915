// SPDX-License-Identifier: MIT
/*
 * Module lifetime: rmmod is refused while a descriptor, a mapping or a named
 * segment is in use; once nothing is, the counters are zero and rmmod
 * succeeds (the module WARNs at exit otherwise, which panics this guest);
 * insmod works again and the device answers.
 */
#include <sys/mman.h>
#include <sys/syscall.h>

#include "rams_test.h"

static int rmmod(void)
{
	return syscall(SYS_delete_module, "rams", O_NONBLOCK);
}

static int insmod(void)
{
	int fd = open("/rams.ko", O_RDONLY | O_CLOEXEC);
	int r;

	CHECK(fd >= 0);
	r = syscall(SYS_finit_module, fd, "", 0);
	close(fd);
	return r;
}

int main(void)
{
	struct rams_version v;
	struct rams_stats s;
	void *p;
	int fd;

	fd = rams_open_dev();
	CHECK_ERR(rmmod(), EWOULDBLOCK);
	CHECK(rams_attach_fd(fd, "pin", 4096, 0600, RAMS_ATTACH_CREATE) == 0);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	memset(p, 1, 4096);
	close(fd);
	CHECK_ERR(rmmod(), EWOULDBLOCK); /* the mapping */
	CHECK(munmap(p, 4096) == 0);
	CHECK_ERR(rmmod(), EWOULDBLOCK); /* the named segment */
	fd = rams_open_dev();
	CHECK(rams_remove_name(fd, "pin") == 0);
	close(fd);
	s = rams_get_stats();
	CHECK(s.segments == 0 && s.reserved_bytes == 0 && s.pages == 0 && s.handles == 0 &&
	      s.leases == 0 && s.waiters == 0);
	CHECK(rmmod() == 0);
	CHECK_ERR(open(RAMS_DEVICE_PATH, O_RDWR), ENOENT);
	CHECK(insmod() == 0);
	fd = rams_open_dev();
	CHECK(ioctl(fd, RAMS_IOC_VERSION, &v) == 0);
	CHECK(v.abi_version == RAMS_ABI_VERSION && v.features == RAMS_FEATURES_ALL);
	close(fd);
	return 0;
}
