// SPDX-License-Identifier: MIT
/*
 * ATTACH's undo is by identity: an ATTACH held between creating its segment
 * and a failing copy-out (its result page is write-protected with a
 * userfaultfd) must remove the segment it created, not a newer one with the
 * same name. Write-protect on anonymous memory is probed: arm64 has it only
 * from Linux 6.10 (HAVE_ARCH_USERFAULTFD_WP), so the 6.1 guest skips.
 */
#define _GNU_SOURCE
#include <pthread.h>

#include "rams_uffd.h"

/* Whether userfaultfd can write-protect anonymous pages here. */
static int uffd_has_write_protect(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	int fd = (int)syscall(__NR_userfaultfd, O_CLOEXEC);
	int has;

	CHECK(fd >= 0 && ioctl(fd, UFFDIO_API, &api) == 0);
	has = (api.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP) != 0;
	close(fd);
	return has;
}

struct attacher {
	int fd;
	struct rams_attach *arg;
	int ret, err;
};

static void *attach_into(void *arg)
{
	struct attacher *at = arg;

	at->ret = ioctl(at->fd, RAMS_IOC_ATTACH, at->arg);
	at->err = errno;
	return NULL;
}

/*
 * ATTACH creates "undo", then blocks writing its result back into a
 * write-protected userfaultfd page. Meanwhile "undo" is removed and created
 * anew; then the page is unmapped, so the copy-out fails with EFAULT and the
 * ATTACH undoes its creation. The undo must remove the segment it created,
 * not the new one that now has the name.
 */
static void test_attach_undo_by_identity(void)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_PAGEFAULT_FLAG_WP };
	struct uffdio_register reg;
	struct uffdio_writeprotect wp;
	struct uffdio_range wake;
	struct attacher at = { .fd = rams_open_dev() };
	struct uffd_region r;
	pthread_t t;
	int newer, check;

	r.uffd = (int)syscall(__NR_userfaultfd, O_CLOEXEC);
	CHECK(r.uffd >= 0 && ioctl(r.uffd, UFFDIO_API, &api) == 0);
	r.page = mmap(NULL, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(r.page != MAP_FAILED);
	at.arg = (struct rams_attach *)r.page;
	strcpy(at.arg->name, "undo");
	at.arg->size = kPage;
	at.arg->mode = 0600;
	at.arg->flags = RAMS_ATTACH_CREATE | RAMS_ATTACH_EXCL;
	memset(&reg, 0, sizeof(reg));
	reg.range.start = (uintptr_t)r.page;
	reg.range.len = kPage;
	reg.mode = UFFDIO_REGISTER_MODE_WP;
	CHECK(ioctl(r.uffd, UFFDIO_REGISTER, &reg) == 0);
	memset(&wp, 0, sizeof(wp));
	wp.range = reg.range;
	wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
	CHECK(ioctl(r.uffd, UFFDIO_WRITEPROTECT, &wp) == 0);

	CHECK(pthread_create(&t, NULL, attach_into, &at) == 0);
	uffd_await_fault(&r); /* created, now stuck copying the result out */
	newer = rams_open_dev();
	CHECK(rams_remove_name(newer, "undo") == 0);
	CHECK(rams_attach_fd(newer, "undo", 2 * kPage, 0600,
			     RAMS_ATTACH_CREATE | RAMS_ATTACH_EXCL) == 0);
	CHECK(munmap(r.page, kPage) == 0);
	wake.start = reg.range.start;
	wake.len = kPage;
	CHECK(ioctl(r.uffd, UFFDIO_WAKE, &wake) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK(at.ret == -1 && at.err == EFAULT);
	check = rams_open_dev();
	if (rams_attach_fd(check, "undo", 2 * kPage, 0, RAMS_ATTACH_RDONLY) != 0) {
		fprintf(stderr, "the failed ATTACH removed the newer segment by name\n");
		exit(1);
	}
	CHECK(rams_remove_name(check, "undo") == 0);
	close(check);
	close(newer);
	close(at.fd);
	close(r.uffd);
}

int main(void)
{
	struct rams_stats s;

	if (!uffd_has_write_protect()) {
		printf("skip: userfaultfd has no write-protect for anonymous memory here "
		       "(no UFFD_FEATURE_PAGEFAULT_FLAG_WP)\n");
		return 77;
	}
	test_attach_undo_by_identity();
	s = rams_get_stats();
	CHECK(s.segments == 0 && s.handles == 0 && s.leases == 0 && s.waiters == 0);
	return 0;
}
