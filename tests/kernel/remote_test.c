// SPDX-License-Identifier: MIT
/*
 * Remote-backed segments through the control channel, with this program as
 * the ramsd: the control handle's rules, ATTACH of a remote name, faults,
 * another process sharing the host's copy (its mapping, lseek and read()
 * ask nothing), poll local-only, upgrades, pread answered over the channel,
 * pwrite as a STORE whose bytes ramsd fetches with CTL_DATA, the handle's calls (LOCK, UNLOCK, LOCKED,
 * WAIT, WAKE) and its CLOSE, a lease granted to a killed waiter unlocked by
 * the module, the home's pushes
 * (dirty data handed back), malformed answers and pushes refused with
 * EINVAL changing nothing, a waiter SIGKILLed while it waits, a waiting
 * fault that does not hold mmap_lock (another thread maps and unmaps), and the
 * channel closing under waiting faults (SIGBUS) and calls (an error), each
 * within a bound. Module counters are back to zero after each part.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>

#include "rams_test.h"

#define PG 4096
#define NAME "10.9.0.1:47001/seg"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int open_control(void)
{
	int fd = open(RAMS_DEVICE_PATH, O_RDWR | O_CLOEXEC | O_NONBLOCK);

	CHECK(fd >= 0);
	CHECK(ioctl(fd, RAMS_IOC_CONTROL) == 0);
	return fd;
}

/* The next request, waiting at most 10 s for one. */
static struct rams_ctl_request recv_req(int ctl)
{
	struct pollfd p = { .fd = ctl, .events = POLLIN };
	struct rams_ctl_request r;

	CHECK(poll(&p, 1, 10000) == 1);
	memset(&r, 0xff, sizeof(r));
	CHECK(ioctl(ctl, RAMS_IOC_CTL_RECV, &r) == 0);
	CHECK(r.reserved[0] == 0 && r.reserved[1] == 0);
	return r;
}

static int answer(int ctl, uint64_t id, int32_t status, uint32_t grant, const void *data,
		  uint64_t size, uint32_t flags)
{
	struct rams_ctl_answer a;

	memset(&a, 0, sizeof(a));
	a.id = id;
	a.status = status;
	a.grant = grant;
	a.data = (uintptr_t)data;
	a.size = size;
	a.flags = flags;
	return ioctl(ctl, RAMS_IOC_CTL_ANSWER, &a);
}

static int push(int ctl, uint64_t seg, uint64_t page, uint32_t kind, void *buf, uint32_t *dirty)
{
	struct rams_ctl_push p;
	int r;

	memset(&p, 0, sizeof(p));
	p.segment = seg;
	p.page = page;
	p.kind = kind;
	p.data = (uintptr_t)buf;
	r = ioctl(ctl, RAMS_IOC_CTL_PUSH, &p);
	if (dirty)
		*dirty = p.dirty;
	return r;
}

/* A call's answer: status, value, nothing else. */
static int answer_value(int ctl, uint64_t id, int32_t status, uint64_t value)
{
	struct rams_ctl_answer a;

	memset(&a, 0, sizeof(a));
	a.id = id;
	a.status = status;
	a.value = value;
	return ioctl(ctl, RAMS_IOC_CTL_ANSWER, &a);
}

/* CTL_DATA of STORE `id` into buf; -1 with errno, or 0. */
static int store_data(int ctl, uint64_t id, void *buf, uint64_t length, uint64_t reserved)
{
	struct rams_ctl_data d = { .id = id, .data = (uintptr_t)buf, .length = length,
				   .reserved = reserved };

	errno = 0;
	return ioctl(ctl, RAMS_IOC_CTL_DATA, &d);
}

/* Answers the ATTACH the next request must be: `pages` pages, writable. */
static uint64_t serve_attach(int ctl, uint64_t pages)
{
	struct rams_ctl_request r = recv_req(ctl);

	CHECK(r.kind == RAMS_CTL_ATTACH);
	CHECK(strcmp(r.name, NAME) == 0);
	CHECK(answer(ctl, r.id, 0, 0, NULL, pages * PG, 0) == 0);
	return r.segment;
}

/* Answers the RELEASE the next request must be (the host's last handle closed). */
static void serve_release(int ctl)
{
	struct rams_ctl_request r = recv_req(ctl);

	CHECK(r.kind == RAMS_CTL_RELEASE);
	CHECK(answer(ctl, r.id, 0, 0, NULL, 0, 0) == 0);
}

static void stats_zero(void)
{
	struct rams_stats s;
	int i;

	for (i = 0; i < 3000; i++) {
		s = rams_get_stats();
		if (s.segments == 0 && s.pages == 0 && s.remote_requests == 0 && s.handles == 0)
			return;
		usleep(1000);
	}
	fprintf(stderr, "stats: segments %llu pages %llu remote_requests %llu handles %llu\n",
		(unsigned long long)s.segments, (unsigned long long)s.pages,
		(unsigned long long)s.remote_requests, (unsigned long long)s.handles);
	CHECK(0);
}

static void try_control(void)
{
	int fd = rams_open_dev();

	CHECK_ERR(ioctl(fd, RAMS_IOC_CONTROL), EPERM);
}

static void test_control_rules(void)
{
	int ctl = open_control(), other = rams_open_dev(), att;
	struct rams_ctl_request r;

	CHECK_ERR(ioctl(other, RAMS_IOC_CONTROL), EBUSY);
	CHECK_ERR(ioctl(ctl, RAMS_IOC_CONTROL), EBUSY);
	CHECK_ERR(ioctl(other, RAMS_IOC_CTL_RECV, &r), EPERM);
	CHECK_ERR(rams_attach_fd(ctl, "local", PG, 0600, RAMS_ATTACH_CREATE), EISCONN);
	CHECK_ERR(ioctl(ctl, RAMS_IOC_CTL_RECV, &r), EAGAIN);
	as_other_user(try_control);
	att = rams_open_segment("remote_test_local", PG, RAMS_ATTACH_CREATE);
	CHECK_ERR(ioctl(att, RAMS_IOC_CONTROL), EISCONN);
	CHECK(rams_remove_name(att, "remote_test_local") == 0);
	close(att);
	/* Remote names: a ':' and a '/', no CREATE. */
	CHECK_ERR(rams_attach_fd(other, "nocolon/x", 0, 0, RAMS_ATTACH_REMOTE), EINVAL);
	CHECK_ERR(rams_attach_fd(other, "a:1", 0, 0, RAMS_ATTACH_REMOTE), EINVAL);
	CHECK_ERR(rams_attach_fd(other, "a:1/b c", 0, 0, RAMS_ATTACH_REMOTE), EINVAL);
	CHECK_ERR(rams_attach_fd(other, NAME, 0, 0, RAMS_ATTACH_REMOTE | RAMS_ATTACH_CREATE), EINVAL);
	close(ctl);
	/* No ramsd: nobody to ask. */
	CHECK_ERR(rams_attach_fd(other, NAME, 0, 0, RAMS_ATTACH_REMOTE), ENOTCONN);
	close(other);
	/* A new control handle may take over. */
	ctl = open_control();
	close(ctl);
	stats_zero();
}

static void test_bad_attach_answers(void)
{
	int ctl = open_control();
	struct rams_ctl_request r;
	struct rams_ctl_answer a;
	char page[PG];
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		int fd;

		close(ctl);
		fd = rams_open_dev();
		CHECK_ERR(rams_attach_fd(fd, NAME, 0, 0, RAMS_ATTACH_REMOTE), EHOSTUNREACH);
		_exit(0);
	}
	r = recv_req(ctl);
	CHECK(r.kind == RAMS_CTL_ATTACH && r.flags == 0 && strcmp(r.name, NAME) == 0);
	CHECK_ERR(answer(ctl, r.id + 1000, 0, 0, NULL, PG, 0), EINVAL);  /* unknown id */
	CHECK_ERR(answer(ctl, r.id, 5, 0, NULL, 0, 0), EINVAL);          /* positive status */
	CHECK_ERR(answer(ctl, r.id, -5000, 0, NULL, 0, 0), EINVAL);      /* not an errno */
	CHECK_ERR(answer(ctl, r.id, 0, 0, NULL, 0, 0), EINVAL);          /* size 0 */
	CHECK_ERR(answer(ctl, r.id, 0, RAMS_CTL_GRANT_READ, NULL, PG, 0), EINVAL);
	CHECK_ERR(answer(ctl, r.id, 0, 0, page, PG, 0), EINVAL);         /* data for an ATTACH */
	CHECK_ERR(answer(ctl, r.id, 0, 0, NULL, PG, 1u << 7), EINVAL);   /* unknown flag */
	CHECK_ERR(answer(ctl, r.id, 0, 0, NULL, 1ULL << 62, 0), EINVAL); /* past the size limit */
	CHECK_ERR(answer(ctl, r.id, -EIO, 0, NULL, PG, 0), EINVAL);      /* error with a size */
	memset(&a, 0, sizeof(a));
	a.id = r.id;
	a.size = PG;
	a.reserved[0] = 1;
	CHECK_ERR(ioctl(ctl, RAMS_IOC_CTL_ANSWER, &a), EINVAL);
	a.reserved[0] = 0;
	a.value = 1; /* an ATTACH's answer has no value */
	CHECK_ERR(ioctl(ctl, RAMS_IOC_CTL_ANSWER, &a), EINVAL);
	CHECK_ERR(ioctl(ctl, RAMS_IOC_CTL_ANSWER, (void *)8), EFAULT);
	/* Nothing changed: the request is still there to answer. */
	CHECK(answer(ctl, r.id, -EHOSTUNREACH, 0, NULL, 0, 0) == 0);
	CHECK_ERR(answer(ctl, r.id, -EHOSTUNREACH, 0, NULL, 0, 0), EINVAL); /* answered already */
	rams_reap_ok(pid);
	close(ctl);
	stats_zero();
}

/*
 * ENOSYS tells a caller that there is no such system call: an answer of
 * ramsd's with it reaches every waiter as EIO (ATTACH, read, and the calls
 * of test_calls). random_test found ATTACH and read() passing it through.
 */
static void test_enosys_answers(void)
{
	int ctl = open_control();
	struct rams_ctl_request r;
	char buf[8];
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		int fd;

		close(ctl);
		fd = rams_open_dev();
		CHECK_ERR(rams_attach_fd(fd, NAME, 0, 0, RAMS_ATTACH_REMOTE), EIO);
		CHECK(rams_attach_fd(fd, NAME, 0, 0, RAMS_ATTACH_REMOTE) == 0);
		CHECK_ERR(pread(fd, buf, sizeof(buf), 0), EIO);
		close(fd);
		_exit(0);
	}
	r = recv_req(ctl);
	CHECK(r.kind == RAMS_CTL_ATTACH);
	CHECK(answer(ctl, r.id, -ENOSYS, 0, NULL, 0, 0) == 0);
	serve_attach(ctl, 1);
	r = recv_req(ctl);
	CHECK(r.kind == RAMS_CTL_READ && r.page == 0);
	CHECK(answer(ctl, r.id, -ENOSYS, 0, NULL, 0, 0) == 0);
	serve_release(ctl);
	rams_reap_ok(pid);
	close(ctl);
	stats_zero();
}

static short poll_mask(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };

	CHECK(poll(&p, 1, 0) >= 0);
	return p.revents;
}

/*
 * Right after pages_client's read miss of page 1: another process of this host
 * attaches the name on its own handle and reads page 1 through its mapping and
 * through lseek and read(), all from the module's one copy (test_pages checks
 * that no request followed). Its handle makes no call, so no CLOSE either.
 */
static void other_process_shares_copy(void)
{
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		int fd = rams_open_dev();
		volatile char *p;
		char buf[4];

		CHECK(rams_attach_fd(fd, NAME, 0, 0, RAMS_ATTACH_REMOTE) == 0);
		p = mmap(NULL, 3 * PG, PROT_READ, MAP_SHARED, fd, 0);
		CHECK(p != MAP_FAILED);
		CHECK(p[PG] == 'A' && p[2 * PG - 1] == 'A');
		CHECK(poll_mask(fd) == POLLOUT);
		CHECK(lseek(fd, 0, SEEK_END) == 3 * PG);
		CHECK(lseek(fd, PG + 10, SEEK_SET) == PG + 10);
		CHECK(read(fd, buf, 4) == 4 && memcmp(buf, "AAAA", 4) == 0);
		CHECK(lseek(fd, 0, SEEK_CUR) == PG + 14);
		CHECK_ERR(lseek(fd, 3 * PG + 1, SEEK_SET), EINVAL);
		_exit(0);
	}
	rams_reap_ok(pid);
}

/* The client side of test_pages, in a child: each step waits for the parent's go. */
static void pages_client(int go, int done)
{
	int fd = rams_open_dev();
	struct rams_info info;
	char buf[16];
	volatile char *p;

	CHECK(rams_attach_fd(fd, NAME, 0, 0, RAMS_ATTACH_REMOTE) == 0);
	CHECK(ioctl(fd, RAMS_IOC_INFO, &info) == 0);
	CHECK(info.size == 3 * PG && (info.flags & RAMS_INFO_REMOTE) && !(info.flags & RAMS_INFO_DEAD));
	p = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	CHECK(p[PG] == 'A' && p[2 * PG - 1] == 'A'); /* a read miss */
	other_process_shares_copy();
	rams_signal(done);
	rams_await(go);                               /* test_pages checked the queue */
	p[PG + 1] = 'B';                              /* an upgrade */
	CHECK(p[PG] == 'A' && p[PG + 1] == 'B');
	rams_signal(done);
	rams_await(go);                               /* the page was recalled */
	CHECK(p[PG] == 'D');
	CHECK(poll_mask(fd) == POLLOUT);              /* poll is local-only: the home's change is not seen */
	rams_signal(done);
	CHECK(pread(fd, buf, 10, 2 * PG + 5) == 10);  /* read() through the channel */
	CHECK(memcmp(buf, "EEEEEEEEEE", 10) == 0);
	CHECK(pwrite(fd, "xyz", 3, 2 * PG) == 3);     /* write() is a STORE at the home */
	CHECK(poll_mask(fd) == (POLLIN | POLLOUT));   /* this host's write() is */
	rams_signal(done);
	rams_await(go);
	_exit(0);
}

static void test_pages(void)
{
	int ctl = open_control(), go[2], done[2];
	struct rams_ctl_request r;
	char data[PG], back[PG];
	uint32_t dirty;
	uint64_t seg, handle;
	pid_t pid;

	CHECK(pipe(go) == 0 && pipe(done) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(ctl);
		pages_client(go[0], done[1]);
	}
	seg = serve_attach(ctl, 3);

	r = recv_req(ctl);
	CHECK(r.kind == RAMS_CTL_READ && r.segment == seg && r.page == 1 && r.flags == 0);
	memset(data, 'A', PG);
	CHECK_ERR(answer(ctl, r.id, 0, RAMS_CTL_GRANT_READ, NULL, 0, 0), EINVAL); /* no data */
	CHECK_ERR(answer(ctl, r.id, 0, 0, data, 0, 0), EINVAL);                   /* no grant */
	CHECK_ERR(answer(ctl, r.id, 0, 3, data, 0, 0), EINVAL);                   /* bad grant */
	CHECK_ERR(answer(ctl, r.id, 0, RAMS_CTL_GRANT_READ, data, PG, 0), EINVAL);
	CHECK_ERR(answer(ctl, r.id, 0, RAMS_CTL_GRANT_READ, (void *)8, 0, 0), EFAULT);
	CHECK(answer(ctl, r.id, 0, RAMS_CTL_GRANT_READ, data, 0, 0) == 0);
	rams_await(done[0]);
	/* The client waits for go: a queued request could only be the other process's. */
	CHECK_ERR(ioctl(ctl, RAMS_IOC_CTL_RECV, &r), EAGAIN);
	rams_signal(go[1]);

	r = recv_req(ctl);
	CHECK(r.kind == RAMS_CTL_WRITE && r.page == 1 && (r.flags & RAMS_CTL_HAVE_COPY));
	CHECK_ERR(answer(ctl, r.id, 0, RAMS_CTL_GRANT_READ, NULL, 0, 0), EINVAL); /* too little */
	CHECK(answer(ctl, r.id, 0, RAMS_CTL_GRANT_WRITE, NULL, 0, 0) == 0);       /* keep the copy */
	rams_await(done[0]);

	/* Malformed pushes change nothing. */
	CHECK_ERR(push(ctl, seg + 100, 1, RAMS_CTL_DOWNGRADE, back, NULL), EINVAL);
	CHECK_ERR(push(ctl, seg, 3, RAMS_CTL_DOWNGRADE, back, NULL), EINVAL);
	CHECK_ERR(push(ctl, seg, 1, 3, back, NULL), EINVAL);
	CHECK_ERR(push(ctl, seg, 1, RAMS_CTL_DOWNGRADE, NULL, NULL), EINVAL);
	CHECK_ERR(push(ctl, seg, 1, RAMS_CTL_DOWNGRADE, (void *)8, NULL), EFAULT);
	/* The page is still exclusive: its data comes back with the downgrade. */
	memset(back, 0, PG);
	CHECK(push(ctl, seg, 1, RAMS_CTL_DOWNGRADE, back, &dirty) == 0);
	CHECK(dirty == 1 && back[0] == 'A' && back[1] == 'B' && back[2] == 'A');
	CHECK(push(ctl, seg, 1, RAMS_CTL_INVALIDATE, back, &dirty) == 0);
	CHECK(dirty == 0);                                /* shared: nothing to hand back */
	CHECK(push(ctl, seg, 0, RAMS_CTL_INVALIDATE, back, &dirty) == 0 && dirty == 0);
	rams_signal(go[1]);

	r = recv_req(ctl);
	CHECK(r.kind == RAMS_CTL_READ && r.page == 1);
	CHECK_ERR(answer(ctl, r.id, 0, RAMS_CTL_GRANT_WRITE, NULL, 0, 0), EINVAL); /* keeping a copy: upgrades only */
	memset(data, 'D', PG);
	CHECK(answer(ctl, r.id, 0, RAMS_CTL_GRANT_READ, data, 0, 0) == 0);
	rams_await(done[0]);

	r = recv_req(ctl);
	CHECK(r.kind == RAMS_CTL_READ && r.page == 2);
	memset(data, 'E', PG);
	CHECK(answer(ctl, r.id, 0, RAMS_CTL_GRANT_READ, data, 0, 0) == 0);
	r = recv_req(ctl);
	CHECK(r.kind == RAMS_CTL_STORE && r.segment == seg && r.op.offset == 2 * PG &&
	      r.op.length == 3 && r.op.handle != 0 && r.flags == 0);
	handle = r.op.handle;
	CHECK_ERR(store_data(ctl, r.id, back, 4, 0), EINVAL);      /* not its length */
	CHECK_ERR(store_data(ctl, r.id + 100, back, 3, 0), EINVAL); /* not in flight */
	CHECK_ERR(store_data(ctl, r.id, back, 3, 1), EINVAL);      /* reserved */
	CHECK_ERR(store_data(ctl, r.id, (void *)8, 3, 0), EFAULT);
	CHECK(store_data(ctl, r.id, back, 3, 0) == 0 && memcmp(back, "xyz", 3) == 0);
	CHECK_ERR(answer_value(ctl, r.id, 0, 2), EINVAL);               /* a STORE is whole */
	CHECK_ERR(answer(ctl, r.id, 0, RAMS_CTL_GRANT_WRITE, NULL, 0, 0), EINVAL);
	CHECK(answer_value(ctl, r.id, 0, 3) == 0);
	CHECK_ERR(store_data(ctl, r.id, back, 3, 0), EINVAL);      /* answered */
	rams_await(done[0]);
	CHECK(push(ctl, seg, 2, RAMS_CTL_INVALIDATE, back, &dirty) == 0);
	CHECK(dirty == 0); /* the STORE left the module's copy shared */
	rams_signal(go[1]);
	rams_reap_ok(pid);

	/* The handle that made a call was released: its home handle closes. */
	r = recv_req(ctl);
	CHECK(r.kind == RAMS_CTL_CLOSE && r.segment == seg && r.op.handle == handle);
	CHECK_ERR(answer_value(ctl, r.id, 0, 1), EINVAL);
	CHECK(answer_value(ctl, r.id, 0, 0) == 0);

	/* The last handle left: ramsd gets RELEASE and the segment lives until the answer. */
	r = recv_req(ctl);
	CHECK(r.kind == RAMS_CTL_RELEASE && r.segment == seg);
	CHECK(rams_get_stats().segments == 1);
	CHECK_ERR(answer(ctl, r.id, 0, RAMS_CTL_GRANT_READ, NULL, 0, 0), EINVAL);
	CHECK(answer(ctl, r.id, 0, 0, NULL, 0, 0) == 0);
	CHECK_ERR(push(ctl, seg, 0, RAMS_CTL_INVALIDATE, back, &dirty), EINVAL); /* gone */
	close(ctl);
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
	stats_zero();
}

/* A child attached to NAME that faults on page 0 (or preads it) and reports the outcome. */
static pid_t spawn_waiter(int ctl, int use_pread, int ready)
{
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		int fd;

		close(ctl); /* only the parent may hold the channel open */
		fd = rams_open_dev();
		volatile char *p;
		char c;

		CHECK(rams_attach_fd(fd, NAME, 0, 0, RAMS_ATTACH_REMOTE) == 0);
		rams_signal(ready);
		if (use_pread) {
			ssize_t n = pread(fd, &c, 1, 0);

			CHECK(n == -1 && (errno == ENOTCONN || errno == EIO));
			CHECK(pread(fd, &c, 1, 0) == -1 && errno == EIO); /* dead from now on */
			_exit(0);
		}
		p = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0);
		CHECK(p != MAP_FAILED);
		c = p[0];
		_exit(3); /* a fault answered with nothing must not return */
	}
	return pid;
}

/* Waits at most `limit` seconds for `pid`; its wait status. */
static int reap_within(pid_t pid, double limit)
{
	double start = now_s();
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		CHECK(r >= 0);
		if (r == pid)
			return status;
		if (now_s() - start > limit) {
			fprintf(stderr, "pid %d still alive after %.1f s\n", (int)pid, limit);
			kill(pid, SIGKILL);
			exit(1);
		}
		usleep(2000);
	}
}

static void test_killed_waiter(void)
{
	int ctl = open_control(), ready[2], status;
	struct rams_ctl_request r;
	char data[PG];
	pid_t pid;

	CHECK(pipe(ready) == 0);
	pid = spawn_waiter(ctl, 0, ready[1]);
	serve_attach(ctl, 1);
	rams_await(ready[0]);
	r = recv_req(ctl);
	CHECK(r.kind == RAMS_CTL_READ && r.page == 0);
	kill(pid, SIGKILL);
	status = reap_within(pid, 5.0);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* The request outlived its waiter: answering it is still valid. */
	memset(data, 'K', PG);
	CHECK(answer(ctl, r.id, 0, RAMS_CTL_GRANT_READ, data, 0, 0) == 0);
	serve_release(ctl);
	close(ctl);
	close(ready[0]);
	close(ready[1]);
	stats_zero();
}

/* The faulting thread of fault_client: reads page 0 of the mapping at `arg`. */
static void *fault_page0(void *arg)
{
	return (void *)(uintptr_t)*(volatile char *)arg;
}

/*
 * A child whose thread faults on page 0 while its main thread, once the
 * parent has the READ request, maps and unmaps anonymous memory: mmap and
 * munmap take mmap_lock for writing, so they finish only if the waiting
 * fault dropped it (VM_FAULT_RETRY). The main thread reports on `done`;
 * the parent answers the fault only then, so a fault holding the lock
 * deadlocks the child until the parent's wait for the report times out.
 */
static pid_t spawn_lock_prober(int ctl, int ready, int go, int done)
{
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		int fd, i;
		char *p;
		pthread_t t;
		void *got;

		close(ctl);
		fd = rams_open_dev();
		CHECK(rams_attach_fd(fd, NAME, 0, 0, RAMS_ATTACH_REMOTE) == 0);
		p = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0);
		CHECK(p != MAP_FAILED);
		rams_signal(ready);
		CHECK(pthread_create(&t, NULL, fault_page0, p) == 0);
		rams_await(go); /* the parent holds the fault's request */
		usleep(100 * 1000); /* the fault reaches its wait */
		for (i = 0; i < 16; i++) {
			void *a = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			CHECK(a != MAP_FAILED);
			CHECK(munmap(a, PG) == 0);
		}
		rams_signal(done);
		CHECK(pthread_join(t, &got) == 0);
		CHECK((char)(uintptr_t)got == 'L');
		_exit(0);
	}
	return pid;
}

static void test_fault_drops_mmap_lock(void)
{
	int ctl = open_control(), ready[2], go[2], done[2], status;
	struct pollfd pd;
	struct rams_ctl_request r;
	char data[PG];
	pid_t pid;

	CHECK(pipe(ready) == 0 && pipe(go) == 0 && pipe(done) == 0);
	pid = spawn_lock_prober(ctl, ready[1], go[0], done[1]);
	serve_attach(ctl, 1);
	rams_await(ready[0]);
	r = recv_req(ctl);
	CHECK(r.kind == RAMS_CTL_READ && r.page == 0);
	rams_signal(go[1]);
	pd = (struct pollfd){ .fd = done[0], .events = POLLIN };
	if (poll(&pd, 1, 10000) != 1) {
		fprintf(stderr, "mmap/munmap blocked behind a waiting remote fault (mmap_lock held)\n");
		kill(pid, SIGKILL);
		exit(1);
	}
	rams_await(done[0]);
	memset(data, 'L', PG);
	CHECK(answer(ctl, r.id, 0, RAMS_CTL_GRANT_READ, data, 0, 0) == 0);
	status = reap_within(pid, 10.0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	serve_release(ctl);
	close(ctl);
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
	stats_zero();
}

static void test_ramsd_gone(void)
{
	int ctl = open_control(), ready[2], status, fd;
	pid_t faulter, reader;
	double start;

	CHECK(pipe(ready) == 0);
	faulter = spawn_waiter(ctl, 0, ready[1]);
	serve_attach(ctl, 1);
	rams_await(ready[0]);
	reader = spawn_waiter(ctl, 1, ready[1]); /* finds the host's copy: no ATTACH */
	rams_await(ready[0]);
	/* Both wait on page 0: one request. */
	CHECK(recv_req(ctl).kind == RAMS_CTL_READ);
	usleep(300 * 1000); /* both reach their wait (either order is checked) */
	start = now_s();
	close(ctl); /* ramsd died */
	status = reap_within(faulter, 5.0);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS);
	status = reap_within(reader, 5.0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	printf("waiters failed %.3f s after the channel closed\n", now_s() - start);
	fd = rams_open_dev();
	CHECK_ERR(rams_attach_fd(fd, NAME, 0, 0, RAMS_ATTACH_REMOTE), ENOTCONN);
	close(fd);
	close(ready[0]);
	close(ready[1]);
	stats_zero();
}

/* The client side of test_calls, in a child: each call is answered by the parent. */
static void calls_client(int done, int go)
{
	int fd = rams_open_dev();
	struct rams_wait w = { .offset = 8, .expected = 5, .flags = RAMS_WAIT_TIMEOUT,
			       .timeout_ns = 1000000000 };
	struct rams_wake k = { .offset = 8, .count = 3 };
	struct rams_lock l;

	CHECK(rams_attach_fd(fd, NAME, 0, 0, RAMS_ATTACH_REMOTE) == 0);
	CHECK(rams_lock_range(fd, PG, PG, 2, 0, 0, &l) == 0);
	CHECK(l.id == 7 && l.result == 0);
	CHECK(rams_locked_id(fd, 7) == 1);
	CHECK_ERR(rams_unlock_id(fd, 7), ENOENT);
	CHECK_ERR(rams_locked_id(fd, 8), EIO); /* ramsd's ENOSYS */
	CHECK_ERR(rams_lock_range(fd, 0, PG, 0, RAMS_LOCK_NONBLOCK, 0, NULL), EWOULDBLOCK);
	CHECK_ERR(ioctl(fd, RAMS_IOC_WAIT, &w), ETIMEDOUT);
	CHECK(ioctl(fd, RAMS_IOC_WAKE, &k) == 2);
	CHECK_ERR(pwrite(fd, "abc", 3, 100), EBUSY);
	/* Validated here, never asked: */
	w.offset = 2;
	CHECK_ERR(ioctl(fd, RAMS_IOC_WAIT, &w), EINVAL);
	CHECK_ERR(rams_lock_range(fd, 0, 0, 0, 0, 0, NULL), EINVAL);
	rams_signal(done);
	rams_await(go);
	/* The channel closes under this LOCK: ENOTCONN; the segment is dead after. */
	CHECK_ERR(rams_lock_range(fd, 0, PG, 0, 0, 0, NULL), ENOTCONN);
	CHECK_ERR(ioctl(fd, RAMS_IOC_WAKE, &k), EIO);
	CHECK_ERR(pwrite(fd, "abc", 3, 100), EIO);
	_exit(0);
}

/* A child whose LOCK the parent grants after killing it. */
static void killed_locker(void)
{
	int fd = rams_open_dev();

	CHECK(rams_attach_fd(fd, NAME, 0, 0, RAMS_ATTACH_REMOTE) == 0);
	rams_lock_range(fd, 0, PG, 0, 0, 0, NULL);
	_exit(3);
}

static void test_calls(void)
{
	int ctl = open_control(), go[2], done[2], status;
	struct rams_ctl_request r, r2;
	uint64_t seg, handle;
	pid_t pid, killed;

	CHECK(pipe(go) == 0 && pipe(done) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(ctl);
		calls_client(done[1], go[0]);
	}
	seg = serve_attach(ctl, 2);
	r = recv_req(ctl);
	CHECK(r.kind == RAMS_CTL_LOCK && r.segment == seg && r.op.offset == PG &&
	      r.op.length == PG && r.op.value == 2 && r.flags == 0 && r.op.timeout_ns == 0);
	handle = r.op.handle;
	CHECK(handle != 0);
	CHECK_ERR(answer(ctl, r.id, 0, RAMS_CTL_GRANT_READ, NULL, 0, 0), EINVAL);
	CHECK_ERR(answer(ctl, r.id, 0, 0, NULL, 5, 0), EINVAL);
	CHECK_ERR(answer_value(ctl, r.id, -EIO, 7), EINVAL); /* an error has no value */
	CHECK(answer_value(ctl, r.id, 0, 7) == 0);
	r = recv_req(ctl);
	CHECK(r.kind == RAMS_CTL_LOCKED && r.op.lock_id == 7 && r.op.handle == handle);
	CHECK_ERR(answer_value(ctl, r.id, 0, 2), EINVAL);
	CHECK(answer_value(ctl, r.id, 0, 1) == 0);
	r = recv_req(ctl);
	CHECK(r.kind == RAMS_CTL_UNLOCK && r.op.lock_id == 7 && r.op.handle == handle);
	CHECK_ERR(answer_value(ctl, r.id, 0, 1), EINVAL);
	CHECK(answer_value(ctl, r.id, -ENOENT, 0) == 0);
	r = recv_req(ctl);
	CHECK(r.kind == RAMS_CTL_LOCKED && r.op.lock_id == 8);
	CHECK_ERR(answer_value(ctl, r.id, -512, 0), EINVAL); /* ERESTARTSYS: not an errno */
	CHECK_ERR(answer_value(ctl, r.id, -134, 0), EINVAL);
	CHECK(answer_value(ctl, r.id, -ENOSYS, 0) == 0);
	r = recv_req(ctl);
	CHECK(r.kind == RAMS_CTL_LOCK && r.flags == RAMS_CTL_TIMED && r.op.timeout_ns == 0 &&
	      r.op.offset == 0 && r.op.value == 0);
	CHECK(answer_value(ctl, r.id, -EWOULDBLOCK, 0) == 0);
	r = recv_req(ctl);
	CHECK(r.kind == RAMS_CTL_WAIT && r.flags == RAMS_CTL_TIMED && r.op.offset == 8 &&
	      r.op.value == 5 && r.op.timeout_ns == 1000000000);
	CHECK_ERR(answer_value(ctl, r.id, 0, 1), EINVAL);
	CHECK(answer_value(ctl, r.id, -ETIMEDOUT, 0) == 0);
	r = recv_req(ctl);
	CHECK(r.kind == RAMS_CTL_WAKE && r.op.offset == 8 && r.op.value == 3);
	CHECK_ERR(answer_value(ctl, r.id, 0, 4), EINVAL); /* more than asked */
	CHECK(answer_value(ctl, r.id, 0, 2) == 0);
	r = recv_req(ctl);
	CHECK(r.kind == RAMS_CTL_STORE && r.op.offset == 100 && r.op.length == 3);
	CHECK(answer_value(ctl, r.id, -EBUSY, 0) == 0);
	rams_await(done[0]);

	/* A lease granted after its waiter was killed: the module unlocks it. */
	killed = fork();
	CHECK(killed >= 0);
	if (killed == 0) {
		close(ctl);
		killed_locker();
	}
	r = recv_req(ctl);
	CHECK(r.kind == RAMS_CTL_LOCK && r.op.handle != handle && r.flags == 0);
	kill(killed, SIGKILL);
	status = reap_within(killed, 5.0);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	r2 = recv_req(ctl); /* its handle was released */
	CHECK(r2.kind == RAMS_CTL_CLOSE && r2.op.handle == r.op.handle);
	CHECK(answer_value(ctl, r2.id, 0, 0) == 0);
	CHECK(answer_value(ctl, r.id, 0, 9) == 0);
	r2 = recv_req(ctl);
	CHECK(r2.kind == RAMS_CTL_UNLOCK && r2.op.handle == r.op.handle && r2.op.lock_id == 9);
	CHECK(answer_value(ctl, r2.id, -ENOENT, 0) == 0);

	rams_signal(go[1]);
	r = recv_req(ctl);
	CHECK(r.kind == RAMS_CTL_LOCK && r.op.handle == handle);
	usleep(100 * 1000);
	close(ctl); /* ramsd died under the LOCK */
	rams_reap_ok(pid);
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
	stats_zero();
}

int main(void)
{
	struct rams_version v;
	int fd = rams_open_dev();

	CHECK(ioctl(fd, RAMS_IOC_VERSION, &v) == 0);
	CHECK((v.features & RAMS_FEATURE_REMOTE) && (v.features & RAMS_FEATURE_REMOTE_OPS));
	close(fd);
	test_control_rules();
	test_bad_attach_answers();
	test_enosys_answers();
	test_pages();
	test_killed_waiter();
	test_fault_drops_mmap_lock();
	test_calls();
	test_ramsd_gone();
	printf("remote_test: all passed\n");
	return 0;
}
