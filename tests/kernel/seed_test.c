// SPDX-License-Identifier: MIT
/*
 * The seed scenario, verbatim: process 1 opens the device and writes 100
 * ints; process 2's write into that range fails while process 1 holds LOCK;
 * process 2 takes LOCK(size, N writes), writes N times and the lock releases
 * itself; process 2 reads 200 ints and sees exactly the expected contents.
 */
#include "rams_test.h"

#define kInts 200
#define kWrites 5

int main(void)
{
	const uint64_t size = kInts * sizeof(int);
	int to_p2[2], to_p1[2];
	pid_t p2;

	CHECK(pipe(to_p2) == 0 && pipe(to_p1) == 0);
	p2 = fork();
	CHECK(p2 >= 0);
	if (p2 == 0) {
		int fd, buf[kInts], ints[kInts / 2 / kWrites];
		struct rams_lock l;
		int i, w;

		close(to_p2[1]);
		close(to_p1[0]);
		rams_await(to_p2[0]); /* process 1 wrote and holds LOCK */
		fd = rams_open_segment("seed", 0, 0);
		for (i = 0; i < 10; i++)
			buf[i] = -1;
		CHECK_ERR(pwrite(fd, buf, 10 * sizeof(int), 40 * sizeof(int)), EBUSY);
		/* Outside the locked range: allowed. */
		for (i = 0; i < kInts / 2; i++)
			buf[i] = 7;
		CHECK(pwrite(fd, buf, sizeof(int), 150 * sizeof(int)) == sizeof(int));
		rams_signal(to_p1[1]);
		rams_await(to_p2[0]); /* process 1 unlocked */

		CHECK(rams_lock_range(fd, 0, size, kWrites, 0, 0, &l) == 0);
		CHECK(rams_locked_id(fd, l.id) == 1);
		for (w = 0; w < kWrites; w++) {
			int n = kInts / 2 / kWrites;

			CHECK(rams_locked_id(fd, l.id) == 1);
			for (i = 0; i < n; i++)
				ints[i] = 1000 + w * n + i;
			CHECK(pwrite(fd, ints, sizeof(ints), (kInts / 2 + w * n) * sizeof(int)) ==
			      (ssize_t)sizeof(ints));
		}
		CHECK(rams_locked_id(fd, l.id) == 0);
		CHECK_ERR(rams_unlock_id(fd, l.id), ENOENT);
		CHECK(pread(fd, buf, size, 0) == (ssize_t)size);
		for (i = 0; i < kInts / 2; i++)
			CHECK(buf[i] == i);
		for (i = kInts / 2; i < kInts; i++)
			CHECK(buf[i] == 1000 + i - kInts / 2);
		rams_signal(to_p1[1]);
		close(fd);
		_exit(0);
	}

	/* Process 1. */
	close(to_p2[0]);
	close(to_p1[1]);
	{
		int fd = rams_open_dev(), ints[kInts / 2], i;
		struct rams_lock l;

		CHECK(rams_attach_fd(fd, "seed", size, 0600, RAMS_ATTACH_CREATE | RAMS_ATTACH_EXCL) == 0);
		for (i = 0; i < kInts / 2; i++)
			ints[i] = i;
		CHECK(write(fd, ints, sizeof(ints)) == (ssize_t)sizeof(ints));
		CHECK(rams_lock_range(fd, 0, sizeof(ints), 0, 0, 0, &l) == 0);
		{ /* /proc/rams lists the segment and the lock */
			char text[4096] = { 0 }, want[96];
			int pfd = open("/proc/rams", O_RDONLY);

			CHECK(pfd >= 0 && read(pfd, text, sizeof(text) - 1) > 0);
			close(pfd);
			CHECK(strstr(text, "segment seed 800 0 0 600 1 1 1\n") != NULL);
			snprintf(want, sizeof(want), "lock seed %llu 0 400 0\n", (unsigned long long)l.id);
			CHECK(strstr(text, want) != NULL);
		}
		rams_signal(to_p2[1]);
		rams_await(to_p1[0]);
		CHECK(rams_unlock_id(fd, l.id) == 0);
		rams_signal(to_p2[1]);
		rams_await(to_p1[0]);
		/* The lease ended by itself: process 1 may write again. */
		CHECK(pwrite(fd, ints, sizeof(int), 0) == sizeof(int));
		rams_reap_ok(p2);
		CHECK(rams_remove_name(fd, "seed") == 0);
		close(fd);
	}
	{
		struct rams_stats s = rams_get_stats();

		CHECK(s.segments == 0 && s.pages == 0 && s.handles == 0 && s.leases == 0);
	}
	return 0;
}
