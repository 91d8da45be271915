// SPDX-License-Identifier: MIT
/*
 * A random-call loop: 4 processes each make RAMS_RANDOM_CALLS (default
 * 30,000) calls of ioctl/read/write/lseek/poll/mmap/munmap/open/close with
 * random arguments, valid and not, on a few shared segment names. Nothing
 * may oops or WARN (the guest panics on either), every call must return a
 * plausible result, and once all is closed and removed the module's
 * counters must be zero (rmmod_test then unloads it).
 */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>

#include "rams_test.h"

#define kProcs 4
#define kFds 6
#define kMaps 4
#define kNames 4

static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint64_t rnd_below(uint64_t n) { return rnd() % n; }

/* Small values most of the time, any 64-bit value sometimes. */
static uint64_t rnd_offset(void)
{
	switch (rnd_below(8)) {
	case 0: return rnd();
	case 1: return rnd_below(1 << 20);
	default: return rnd_below(1 << 14);
	}
}

static void rnd_fill(void *p, size_t len)
{
	unsigned char *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = rnd_below(4) == 0 ? (unsigned char)rnd() : 0;
}

struct map { void *addr; size_t len; uint64_t seg_size; int writable; };

static int fds[kFds];
static struct map maps[kMaps];
static char buf[1 << 15];

/* Successful calls by kind, to show the loop reached the module's paths. */
enum { kAttach, kLock, kWaitWake, kRead, kWrite, kMap, kKinds };
static long ok_calls[kKinds];
static const char *const kind_names[kKinds] = { "attach", "lock", "wait/wake", "read", "write", "mmap" };

/* Mostly well-formed arguments with one field off; sometimes pure garbage. */
static void random_args(unsigned long cmd, void *arg, size_t len)
{
	union {
		struct rams_attach a;
		struct rams_lock l;
		struct rams_lock_ref r;
		struct rams_wait w;
		struct rams_wake k;
		struct rams_remove rm;
	} *u = arg;

	memset(arg, 0, len);
	if (rnd_below(8) == 0) {
		rnd_fill(arg, len);
	} else if (cmd == RAMS_IOC_ATTACH) {
		snprintf(u->a.name, sizeof(u->a.name), "r%d", (int)rnd_below(kNames));
		u->a.size = rnd_below(2) ? 0 : 1 + rnd_below(1 << 15);
		u->a.mode = 0600;
		u->a.flags = rnd_below(16) & (RAMS_ATTACH_CREATE | RAMS_ATTACH_EXCL | RAMS_ATTACH_RDONLY);
	} else if (cmd == RAMS_IOC_REMOVE) {
		snprintf(u->rm.name, sizeof(u->rm.name), "r%d", (int)rnd_below(kNames));
	} else if (cmd == RAMS_IOC_LOCK) {
		u->l.offset = rnd_below(4) ? rnd_below(1 << 12) : rnd_offset();
		u->l.len = 1 + rnd_below(1 << 12);
		u->l.writes = rnd_below(4);
	} else if (cmd == RAMS_IOC_UNLOCK || cmd == RAMS_IOC_LOCKED) {
		u->r.id = rnd_below(64);
	} else if (cmd == RAMS_IOC_WAIT) {
		u->w.offset = rnd_offset() & ~(uint64_t)(rnd_below(8) ? 3 : 0);
		u->w.expected = rnd_below(2) ? 0 : (uint32_t)rnd();
	} else if (cmd == RAMS_IOC_WAKE) {
		u->k.offset = rnd_offset() & ~(uint64_t)3;
		u->k.count = rnd_below(3);
	}
	if (rnd_below(16) == 0) /* one stray byte anywhere */
		((unsigned char *)arg)[rnd_below(len)] ^= 1 + rnd_below(255);
	/* Never block for long, whatever else is wrong. */
	if (cmd == RAMS_IOC_LOCK) {
		u->l.flags = rnd_below(2) ? RAMS_LOCK_NONBLOCK : RAMS_LOCK_TIMEOUT;
		u->l.timeout_ns = rnd_below(200000);
	} else if (cmd == RAMS_IOC_WAIT) {
		u->w.flags = RAMS_WAIT_TIMEOUT;
		u->w.timeout_ns = rnd_below(200000);
	} else if (cmd == RAMS_IOC_ATTACH) {
		u->a.flags &= ~RAMS_ATTACH_WRITE_WAIT; /* two waiting writers could deadlock */
	}
}

static void random_ioctl(int fd)
{
	static const unsigned long cmds[] = {
		RAMS_IOC_VERSION, RAMS_IOC_ATTACH, RAMS_IOC_ATTACH, RAMS_IOC_INFO,
		RAMS_IOC_LOCK, RAMS_IOC_LOCK, RAMS_IOC_UNLOCK, RAMS_IOC_LOCKED,
		RAMS_IOC_WAIT, RAMS_IOC_WAKE, RAMS_IOC_REMOVE, RAMS_IOC_LIST, RAMS_IOC_STATS,
		_IO(RAMS_IOC_MAGIC, 0x40), _IOWR('Z', 3, struct rams_lock),
	};
	union {
		struct rams_list list;
		char raw[256];
	} arg;
	struct rams_info infos[4];
	unsigned long cmd = cmds[rnd_below(sizeof(cmds) / sizeof(cmds[0]))];
	void *ptr = &arg;
	int r;

	random_args(cmd, &arg, sizeof(arg));
	if (cmd == RAMS_IOC_LIST && rnd_below(8)) {
		memset(&arg.list, 0, sizeof(arg.list));
		arg.list.entries = (uintptr_t)infos;
		arg.list.capacity = rnd_below(5);
	}
	if (rnd_below(32) == 0)
		ptr = rnd_below(2) ? NULL : (void *)(uintptr_t)rnd();
	r = ioctl(fd, cmd, ptr);
	if (r < 0) {
		CHECK(errno != 0 && errno != ENOSYS);
		return;
	}
	if (cmd == RAMS_IOC_ATTACH)
		ok_calls[kAttach]++;
	else if (cmd == RAMS_IOC_LOCK)
		ok_calls[kLock]++;
	else if (cmd == RAMS_IOC_WAIT || cmd == RAMS_IOC_WAKE)
		ok_calls[kWaitWake]++;
}

static void random_map(int fd)
{
	int slot = rnd_below(kMaps);
	struct rams_info info;
	size_t len = (1 + rnd_below(8)) * 4096;
	int writable = rnd_below(2);
	void *p;

	if (maps[slot].addr) {
		CHECK(munmap(maps[slot].addr, maps[slot].len) == 0);
		maps[slot].addr = NULL;
		return;
	}
	if (ioctl(fd, RAMS_IOC_INFO, &info) != 0)
		return;
	p = mmap(NULL, len, PROT_READ | (writable ? PROT_WRITE : 0),
		 rnd_below(8) ? MAP_SHARED : MAP_PRIVATE, fd, rnd_below(3) * 4096);
	if (p == MAP_FAILED)
		return;
	maps[slot] = (struct map){ p, len, info.size, writable };
	ok_calls[kMap]++;
}

/* Touches mapped bytes that lie inside the segment. */
static void random_touch(void)
{
	int slot = rnd_below(kMaps);
	size_t limit;

	if (!maps[slot].addr)
		return;
	limit = maps[slot].len < maps[slot].seg_size ? maps[slot].len : maps[slot].seg_size;
	/* Mapped at offset >= 0; stay inside the first `limit - 2 pages` to be safe. */
	if (limit <= 3 * 4096)
		return;
	{
		volatile char *c = (volatile char *)maps[slot].addr + rnd_below(limit - 3 * 4096);

		if (maps[slot].writable)
			*c += 1;
		else
			(void)*c;
	}
}

static void random_call(void)
{
	int slot = rnd_below(kFds);
	int fd = fds[slot];

	if (fd < 0) {
		fds[slot] = open(RAMS_DEVICE_PATH, rnd_below(8) ? O_RDWR : O_RDONLY);
		CHECK(fds[slot] >= 0);
		if (rnd_below(4)) { /* mostly attached, so the data paths get exercised */
			char name[8];

			snprintf(name, sizeof(name), "r%d", (int)rnd_below(kNames));
			if (rams_attach_fd(fds[slot], name, 4096 * (1 + rnd_below(8)), 0600,
					   RAMS_ATTACH_CREATE) == 0 ||
			    rams_attach_fd(fds[slot], name, 0, 0600, 0) == 0)
				ok_calls[kAttach]++;
		}
		return;
	}
	switch (rnd_below(12)) {
	case 0:
		if (rnd_below(4) == 0) {
			close(fd);
			fds[slot] = -1;
		}
		break;
	case 1: case 2: case 3:
		random_ioctl(fd);
		break;
	case 4:
		if (pread(fd, buf, rnd_below(sizeof(buf)), rnd_offset()) > 0)
			ok_calls[kRead]++;
		break;
	case 5:
		if (pwrite(fd, buf, rnd_below(sizeof(buf)), rnd_offset()) > 0)
			ok_calls[kWrite]++;
		break;
	case 6:
		read(fd, buf, rnd_below(256));
		break;
	case 7:
		write(fd, buf, rnd_below(256));
		break;
	case 8:
		lseek(fd, (off_t)rnd_offset() - 100, rnd_below(4));
		break;
	case 9: {
		struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };

		CHECK(poll(&p, 1, 0) >= 0);
		break;
	}
	case 10:
		random_map(fd);
		break;
	case 11:
		random_touch();
		break;
	}
}

static void worker(int id, long calls)
{
	long i;
	int s;

	rng_state = 0x9E3779B97F4A7C15ULL * (id + 1);
	for (s = 0; s < kFds; s++)
		fds[s] = -1;
	for (i = 0; i < calls; i++)
		random_call();
	for (s = 0; s < kFds; s++)
		if (fds[s] >= 0)
			close(fds[s]);
	for (s = 0; s < kMaps; s++)
		if (maps[s].addr)
			CHECK(munmap(maps[s].addr, maps[s].len) == 0);
	printf("worker %d: %ld calls; succeeded:", id, calls);
	for (s = 0; s < kKinds; s++)
		printf(" %s %ld", kind_names[s], ok_calls[s]);
	printf("\n");
	fflush(stdout);
	/* Each path must have been reached, or the loop tests little. */
	for (s = 0; s < kKinds; s++)
		CHECK(calls < 10000 || ok_calls[s] > 0);
	_exit(0);
}

int main(void)
{
	const char *env = getenv("RAMS_RANDOM_CALLS");
	long calls = env ? atol(env) : 30000;
	pid_t pids[kProcs];
	struct rams_stats s;
	int p, fd;

	signal(SIGBUS, SIG_DFL);
	for (p = 0; p < kProcs; p++) {
		pids[p] = fork();
		CHECK(pids[p] >= 0);
		if (pids[p] == 0)
			worker(p, calls);
	}
	for (p = 0; p < kProcs; p++)
		rams_reap_ok(pids[p]);
	/* Garbage arguments may have created segments under any valid name. */
	fd = rams_open_dev();
	for (;;) {
		struct rams_info infos[16];
		struct rams_list list = { .entries = (uintptr_t)infos, .capacity = 16 };
		uint32_t i;

		CHECK(ioctl(fd, RAMS_IOC_LIST, &list) == 0);
		if (list.count == 0)
			break;
		for (i = 0; i < list.count && i < 16; i++)
			CHECK(rams_remove_name(fd, infos[i].name) == 0);
	}
	close(fd);
	s = rams_get_stats();
	printf("after: segments %llu pages %llu handles %llu leases %llu waiters %llu\n",
	       (unsigned long long)s.segments, (unsigned long long)s.pages,
	       (unsigned long long)s.handles, (unsigned long long)s.leases,
	       (unsigned long long)s.waiters);
	CHECK(s.segments == 0 && s.reserved_bytes == 0 && s.pages == 0 && s.handles == 0 &&
	      s.leases == 0 && s.waiters == 0);
	return 0;
}
