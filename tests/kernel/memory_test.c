// SPDX-License-Identifier: MIT
/*
 * A segment's memory is ordinary shmem: its pages show in /proc/meminfo's
 * Shmem, are charged to the memory cgroup of the task that faults them in
 * (through a mapping or by write()), stay charged there after that task
 * exits, and are swapped out when that cgroup runs over memory.max (swap on
 * zram), then read back intact. Needs cgroup2 (mounted here) and the zram
 * module in /modules (scripts/kernel-test puts it there).
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "rams_test.h"

#define kPage 4096

/* The value after "key " in a "key value" file (memory.stat, /proc/meminfo). */
static uint64_t keyed_value(const char *path, const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	FILE *f = fopen(path, "r");

	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) == 0 && (line[klen] == ' ' || line[klen] == ':')) {
			fclose(f);
			return strtoull(line + klen + 1 + strspn(line + klen + 1, " "), NULL, 10);
		}
	}
	fclose(f);
	fprintf(stderr, "no %s in %s\n", key, path);
	exit(1);
}

static uint64_t single_value(const char *path)
{
	char buf[64] = { 0 };
	int fd = open(path, O_RDONLY);

	CHECK(fd >= 0 && read(fd, buf, sizeof(buf) - 1) > 0);
	close(fd);
	return strtoull(buf, NULL, 10);
}

static uint64_t shmem_kib(void)
{
	return keyed_value("/proc/meminfo", "Shmem");
}

static uint64_t cgroup_shmem(const char *cg)
{
	char path[128];

	snprintf(path, sizeof(path), kCgroups "/%s/memory.stat", cg);
	return keyed_value(path, "shmem");
}

/* Pages [first, first+n) of `fd`: touched through a mapping, or written with pwrite. */
static void touch(int fd, uint64_t first, uint64_t n, int mapped)
{
	char buf[kPage];
	uint64_t i;

	if (mapped) {
		char *p = mmap(NULL, (first + n) * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

		CHECK(p != MAP_FAILED);
		for (i = first; i < first + n; i++)
			memcpy(p + i * kPage, &i, sizeof(i));
		CHECK(munmap(p, (first + n) * kPage) == 0);
		return;
	}
	memset(buf, 0x5a, sizeof(buf));
	for (i = first; i < first + n; i++) {
		memcpy(buf, &i, sizeof(i));
		CHECK(pwrite(fd, buf, kPage, (off_t)(i * kPage)) == kPage);
	}
}

/* A child in cgroup `cg` attaches to `name` and touches pages [first, first+n). */
static void touch_in_cgroup(const char *cg, const char *name, uint64_t first, uint64_t n,
			    int mapped)
{
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		int fd;

		cgroup_join(cg);
		fd = rams_open_segment(name, 0, 0);
		touch(fd, first, n, mapped);
		close(fd);
		_exit(0);
	}
	rams_reap_ok(pid);
}

static void test_meminfo_shmem(void)
{
	uint64_t before = shmem_kib(), during;
	int fd = rams_open_segment("shm", 512 * kPage, RAMS_ATTACH_CREATE | RAMS_ATTACH_EXCL);
	struct rams_info info;

	touch(fd, 0, 512, 0);
	during = shmem_kib();
	CHECK(ioctl(fd, RAMS_IOC_INFO, &info) == 0 && info.pages == 512);
	fprintf(stderr, "Shmem %llu kB -> %llu kB\n", (unsigned long long)before,
		(unsigned long long)during);
	CHECK(during >= before + 512 * 4 - 256);
	CHECK(rams_remove_name(fd, "shm") == 0);
	close(fd);
	CHECK(shmem_kib() <= before + 256);
}

static void test_charged_to_toucher(void)
{
	int fd = rams_open_segment("charged", 512 * kPage, RAMS_ATTACH_CREATE | RAMS_ATTACH_EXCL);
	uint64_t a, b;

	cgroup_make("rams-a");
	cgroup_make("rams-b");
	touch_in_cgroup("rams-a", "charged", 0, 256, 1);   /* 1 MiB through a mapping */
	touch_in_cgroup("rams-b", "charged", 256, 128, 0); /* 512 KiB by write() */
	a = cgroup_shmem("rams-a");
	b = cgroup_shmem("rams-b");
	fprintf(stderr, "shmem charged: rams-a %llu rams-b %llu\n", (unsigned long long)a,
		(unsigned long long)b);
	CHECK(a >= 256 * kPage && a < 300 * kPage);
	CHECK(b >= 128 * kPage && b < 172 * kPage);
	CHECK(rams_remove_name(fd, "charged") == 0);
	close(fd);
	CHECK(cgroup_shmem("rams-a") < 16 * kPage && cgroup_shmem("rams-b") < 16 * kPage);
}

static void setup_swap(void)
{
	CHECK(system("insmod /modules/zsmalloc.ko 2>/dev/null; insmod /modules/zram.ko") == 0);
	write_file("/sys/block/zram0/disksize", "128M");
	CHECK(system("mkswap /dev/zram0 >/dev/null && swapon /dev/zram0") == 0);
}

static void test_swapped_under_pressure(void)
{
	const uint64_t pages = 8192; /* 32 MiB into a cgroup limited to 8 MiB */
	int fd = rams_open_segment("big", pages * kPage, RAMS_ATTACH_CREATE | RAMS_ATTACH_EXCL);
	uint64_t i, current, swapped, shmem;
	struct rams_info info;
	char buf[kPage];

	setup_swap();
	cgroup_make("rams-small");
	write_file(kCgroups "/rams-small/memory.max", "8M");
	touch_in_cgroup("rams-small", "big", 0, pages, 1);
	current = single_value(kCgroups "/rams-small/memory.current");
	swapped = single_value(kCgroups "/rams-small/memory.swap.current");
	shmem = cgroup_shmem("rams-small");
	fprintf(stderr, "rams-small: memory.current %llu shmem %llu swap.current %llu\n",
		(unsigned long long)current, (unsigned long long)shmem,
		(unsigned long long)swapped);
	CHECK(current <= 8 << 20);
	CHECK(swapped >= 16 << 20);
	CHECK(ioctl(fd, RAMS_IOC_INFO, &info) == 0 && info.pages == pages);
	for (i = 0; i < pages; i++) { /* swapped back in intact */
		uint64_t v;

		CHECK(pread(fd, buf, kPage, (off_t)(i * kPage)) == kPage);
		memcpy(&v, buf, sizeof(v));
		if (v != i) {
			fprintf(stderr, "page %llu reads %llu\n", (unsigned long long)i,
				(unsigned long long)v);
			exit(1);
		}
	}
	CHECK(rams_remove_name(fd, "big") == 0);
	close(fd);
	CHECK(single_value(kCgroups "/rams-small/memory.swap.current") < 1 << 20);
	CHECK(system("swapoff /dev/zram0") == 0);
}

int main(void)
{
	struct rams_stats s;

	setup_cgroups();
	test_meminfo_shmem();
	test_charged_to_toucher();
	test_swapped_under_pressure();
	s = rams_get_stats();
	CHECK(s.segments == 0 && s.pages == 0 && s.handles == 0);
	return 0;
}
