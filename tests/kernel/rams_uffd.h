/* SPDX-License-Identifier: MIT */
/*
 * A page that faults slowly, for the kernel suite's stall tests: one
 * anonymous page registered with a userfaultfd that the test resolves when
 * it chooses.
 */
#ifndef RAMS_TEST_UFFD_H
#define RAMS_TEST_UFFD_H

#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "rams_test.h"

#define kPage 4096

struct uffd_region {
	int uffd;
	char *page; /* one missing page, registered */
};

static inline struct uffd_region uffd_region_new(void)
{
	struct uffd_region r;
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;

	r.uffd = (int)syscall(__NR_userfaultfd, O_CLOEXEC);
	CHECK(r.uffd >= 0);
	CHECK(ioctl(r.uffd, UFFDIO_API, &api) == 0);
	r.page = mmap(NULL, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(r.page != MAP_FAILED);
	memset(&reg, 0, sizeof(reg));
	reg.range.start = (uintptr_t)r.page;
	reg.range.len = kPage;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	CHECK(ioctl(r.uffd, UFFDIO_REGISTER, &reg) == 0);
	return r;
}

/* Waits until some thread is stuck faulting on the page. */
static inline void uffd_await_fault(struct uffd_region *r)
{
	struct pollfd p = { .fd = r->uffd, .events = POLLIN };
	struct uffd_msg msg;

	CHECK(poll(&p, 1, 20000) == 1);
	CHECK(read(r->uffd, &msg, sizeof(msg)) == sizeof(msg));
	CHECK(msg.event == UFFD_EVENT_PAGEFAULT);
}

static inline void uffd_resolve(struct uffd_region *r)
{
	struct uffdio_zeropage z;

	memset(&z, 0, sizeof(z));
	z.range.start = (uintptr_t)r->page;
	z.range.len = kPage;
	CHECK(ioctl(r->uffd, UFFDIO_ZEROPAGE, &z) == 0);
}

#endif /* RAMS_TEST_UFFD_H */
