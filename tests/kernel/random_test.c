// SPDX-License-Identifier: MIT
/*
 * A random-call loop: 4 processes each make RAMS_RANDOM_CALLS (default
 * 30,000) calls of ioctl/read/write/lseek/poll/mmap/munmap/open/close with
 * random arguments, valid and not, on a few shared segment names. Nothing
 * may oops or WARN (the guest panics on either), every call must return a
 * plausible result, and once all is closed and removed the module's
 * counters must be zero (rmmod_test then unloads it). A fifth process plays
 * ramsd on the control channel: it answers the workers' remote segments
 * (RAMS_ATTACH_REMOTE) with random answers, valid and malformed (refused with
 * EINVAL), pushes random invalidations and downgrades, sends garbage control
 * calls, and now and then closes the channel and opens it again, so faults
 * of remote mappings get SIGBUS (caught) and calls get errors.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <setjmp.h>
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

struct map { void *addr; size_t len; uint64_t seg_size; int writable; int remote; };

static int fds[kFds];
static struct map maps[kMaps];
static char buf[1 << 15];

/* Successful calls by kind, to show the loop reached the module's paths. */
enum { kAttach, kLock, kWaitWake, kRead, kWrite, kMap, kRemote, kKinds };
static long ok_calls[kKinds];
static const char *const kind_names[kKinds] = { "attach", "lock", "wait/wake", "read", "write",
						"mmap", "remote attach" };

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
		if (rnd_below(4) == 0) {
			snprintf(u->a.name, sizeof(u->a.name), "10.9.0.1:47001/r%d",
				 (int)rnd_below(kNames));
			u->a.flags = (u->a.flags & RAMS_ATTACH_RDONLY) | RAMS_ATTACH_REMOTE;
		}
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

/* Returns 1 when `fd` became the control handle: the caller closes it at once. */
static int random_ioctl(int fd)
{
	static const unsigned long cmds[] = {
		RAMS_IOC_VERSION, RAMS_IOC_ATTACH, RAMS_IOC_ATTACH, RAMS_IOC_INFO,
		RAMS_IOC_LOCK, RAMS_IOC_LOCK, RAMS_IOC_UNLOCK, RAMS_IOC_LOCKED,
		RAMS_IOC_WAIT, RAMS_IOC_WAKE, RAMS_IOC_REMOVE, RAMS_IOC_LIST, RAMS_IOC_STATS,
		_IO(RAMS_IOC_MAGIC, 0x40), _IOWR('Z', 3, struct rams_lock),
		RAMS_IOC_CONTROL, RAMS_IOC_CTL_RECV, RAMS_IOC_CTL_ANSWER, RAMS_IOC_CTL_PUSH,
		RAMS_IOC_CTL_DATA,
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
		return 0;
	}
	if (cmd == RAMS_IOC_CONTROL)
		return 1; /* the random ramsd had let go: this worker must not keep the channel */
	if (cmd == RAMS_IOC_ATTACH)
		ok_calls[kAttach]++;
	else if (cmd == RAMS_IOC_LOCK)
		ok_calls[kLock]++;
	else if (cmd == RAMS_IOC_WAIT || cmd == RAMS_IOC_WAKE)
		ok_calls[kWaitWake]++;
	return 0;
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
	maps[slot] = (struct map){ p, len, info.size, writable, !!(info.flags & RAMS_INFO_REMOTE) };
	ok_calls[kMap]++;
}

static sigjmp_buf touch_jmp;
static long remote_sigbus;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(touch_jmp, 1);
}

/* Touches mapped bytes that lie inside the segment (a remote one's may SIGBUS). */
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

		if (maps[slot].remote && sigsetjmp(touch_jmp, 1)) {
			remote_sigbus++;
			return;
		}
		signal(SIGBUS, maps[slot].remote ? on_sigbus : SIG_DFL);
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

			char rname[32];

			snprintf(name, sizeof(name), "r%d", (int)rnd_below(kNames));
			snprintf(rname, sizeof(rname), "10.9.0.1:47001/%s", name);
			if (rnd_below(4) == 0) {
				if (rams_attach_fd(fds[slot], rname, 0, 0, RAMS_ATTACH_REMOTE) == 0)
					ok_calls[kRemote]++;
			} else if (rams_attach_fd(fds[slot], name, 4096 * (1 + rnd_below(8)), 0600,
						  RAMS_ATTACH_CREATE) == 0 ||
				   rams_attach_fd(fds[slot], name, 0, 0600, 0) == 0) {
				ok_calls[kAttach]++;
			}
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
		if (random_ioctl(fd)) {
			close(fd);
			fds[slot] = -1;
		}
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
	printf("; remote SIGBUS %ld\n", remote_sigbus);
	fflush(stdout);
	/* Each path must have been reached, or the loop tests little. */
	for (s = 0; s < kKinds; s++)
		CHECK(calls < 10000 || ok_calls[s] > 0);
	_exit(0);
}

/* ---- The random ramsd ---- */

static volatile sig_atomic_t ramsd_stop;

static void on_term(int sig)
{
	(void)sig;
	ramsd_stop = 1;
}

static int ramsd_open(void)
{
	int i;

	for (i = 0; i < 1000; i++) {
		int fd = open(RAMS_DEVICE_PATH, O_RDWR | O_CLOEXEC | O_NONBLOCK);

		CHECK(fd >= 0);
		if (ioctl(fd, RAMS_IOC_CONTROL) == 0)
			return fd;
		CHECK(errno == EBUSY); /* a worker's garbage CONTROL got it first: it lets go */
		close(fd);
		usleep(1000);
	}
	CHECK(0);
	return -1;
}

static uint64_t seg_ids[16];

/* A well-formed answer to `r`, or an error; malformed ones first, now and then. */
static void ramsd_answer(int ctl, const struct rams_ctl_request *r)
{
	static char page[4096];
	struct rams_ctl_answer a;
	int tries;

	for (tries = 0; tries < 3 && rnd_below(4) == 0; tries++) {
		rnd_fill(&a, sizeof(a));
		a.id = rnd_below(2) ? r->id : rnd();
		if (rnd_below(2))
			a.reserved[0] |= 1;
		else
			a.status = 1 + (int32_t)rnd_below(100);
		CHECK(ioctl(ctl, RAMS_IOC_CTL_ANSWER, &a) == -1 && (errno == EINVAL || errno == EFAULT));
	}
	memset(&a, 0, sizeof(a));
	a.id = r->id;
	if (rnd_below(16) == 0) {
		a.status = -(int32_t)(1 + rnd_below(133));
	} else if (r->kind == RAMS_CTL_ATTACH) {
		a.size = 4096 * (1 + rnd_below(8)) - rnd_below(100);
		a.flags = rnd_below(8) == 0 ? RAMS_CTL_RDONLY : 0;
		seg_ids[rnd_below(16)] = r->segment;
	} else if (r->kind == RAMS_CTL_READ || r->kind == RAMS_CTL_WRITE) {
		rnd_fill(page, sizeof(page));
		a.grant = r->kind == RAMS_CTL_WRITE || rnd_below(2) ? RAMS_CTL_GRANT_WRITE
								    : RAMS_CTL_GRANT_READ;
		a.data = (r->flags & RAMS_CTL_HAVE_COPY) && rnd_below(2) ? 0 : (uintptr_t)page;
	} else if (r->kind == RAMS_CTL_STORE) {
		static char bytes[RAMS_CTL_STORE_MAX];
		struct rams_ctl_data d = { .id = r->id, .data = (uintptr_t)bytes,
					   .length = r->op.length };

		if (rnd_below(4) == 0) {
			rnd_fill(&d, sizeof(d));
			CHECK(ioctl(ctl, RAMS_IOC_CTL_DATA, &d) == -1 &&
			      (errno == EINVAL || errno == EFAULT));
			d = (struct rams_ctl_data){ .id = r->id, .data = (uintptr_t)bytes,
						    .length = r->op.length };
		}
		CHECK(r->op.length <= sizeof(bytes) && ioctl(ctl, RAMS_IOC_CTL_DATA, &d) == 0);
		a.value = rnd_below(8) ? r->op.length : rnd();
	} else if (r->kind == RAMS_CTL_LOCK) {
		a.value = rnd();
	} else if (r->kind == RAMS_CTL_LOCKED || r->kind == RAMS_CTL_WAKE) {
		a.value = rnd_below(4);
	}
	if (ioctl(ctl, RAMS_IOC_CTL_ANSWER, &a) == 0)
		return;
	/* A read-only export refuses write grants; a kept copy may be gone: answer plainly. */
	CHECK(errno == EINVAL);
	memset(&a, 0, sizeof(a));
	a.id = r->id;
	a.status = -EIO;
	CHECK(ioctl(ctl, RAMS_IOC_CTL_ANSWER, &a) == 0);
}

static void ramsd_push(int ctl)
{
	static char back[4096];
	struct rams_ctl_push p;
	int r;

	memset(&p, 0, sizeof(p));
	p.segment = seg_ids[rnd_below(16)];
	p.page = rnd_below(10);
	p.kind = 1 + rnd_below(2);
	p.data = (uintptr_t)back;
	if (rnd_below(8) == 0)
		rnd_fill(&p, sizeof(p));
	r = ioctl(ctl, RAMS_IOC_CTL_PUSH, &p);
	CHECK(r == 0 || errno == EINVAL || errno == EFAULT);
}

static void random_ramsd(void)
{
	int ctl = ramsd_open();
	long answered = 0, reopened = 0;

	rng_state = 0xD1B54A32D192ED03ULL;
	signal(SIGTERM, on_term);
	while (!ramsd_stop) {
		struct rams_ctl_request r;
		struct pollfd p = { .fd = ctl, .events = POLLIN };

		CHECK(poll(&p, 1, 2) >= 0 || errno == EINTR);
		while (ioctl(ctl, RAMS_IOC_CTL_RECV, &r) == 0) {
			ramsd_answer(ctl, &r);
			answered++;
		}
		CHECK(errno == EAGAIN || errno == EINTR);
		if (rnd_below(4) == 0)
			ramsd_push(ctl);
		if (rnd_below(500) == 0) {
			close(ctl); /* every waiter fails; remote segments die */
			ctl = ramsd_open();
			reopened++;
		}
	}
	close(ctl);
	printf("random ramsd: %ld requests answered, channel reopened %ld times\n", answered, reopened);
	fflush(stdout);
	_exit(0);
}

int main(void)
{
	const char *env = getenv("RAMS_RANDOM_CALLS");
	long calls = env ? atol(env) : 30000;
	pid_t pids[kProcs];
	struct rams_stats s;
	int p, fd;

	pid_t ramsd;

	signal(SIGBUS, SIG_DFL);
	ramsd = fork();
	CHECK(ramsd >= 0);
	if (ramsd == 0)
		random_ramsd();
	for (p = 0; p < kProcs; p++) {
		pids[p] = fork();
		CHECK(pids[p] >= 0);
		if (pids[p] == 0)
			worker(p, calls);
	}
	for (p = 0; p < kProcs; p++)
		rams_reap_ok(pids[p]);
	kill(ramsd, SIGTERM);
	rams_reap_ok(ramsd);
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
	printf("after: segments %llu pages %llu handles %llu leases %llu waiters %llu remote_requests %llu\n",
	       (unsigned long long)s.segments, (unsigned long long)s.pages,
	       (unsigned long long)s.handles, (unsigned long long)s.leases,
	       (unsigned long long)s.waiters, (unsigned long long)s.remote_requests);
	CHECK(s.segments == 0 && s.reserved_bytes == 0 && s.pages == 0 && s.handles == 0 &&
	      s.leases == 0 && s.waiters == 0 && s.remote_requests == 0);
	return 0;
}
