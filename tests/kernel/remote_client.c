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
 */
#include <sys/mman.h>
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
