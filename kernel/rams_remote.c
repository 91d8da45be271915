// SPDX-License-Identifier: GPL-2.0-only
/*
 * Remote-backed segments and the control channel to the local ramsd, which
 * serves them from their home host (docs/kernel-abi.md, "Remote segments").
 *
 * A remote segment keeps this host's one copy of its pages in its shmem file,
 * like a local one, with a state per page: INVALID (no usable copy), SHARED
 * (a read-only copy) or EXCL (held exclusively: writable, and dirty as far as
 * the home is concerned). A fault, read() or write() that needs more than the
 * page's state asks ramsd through a request on the channel, one per page at
 * a time, and waits for the answer killably; a fault drops mmap_lock first
 * and returns VM_FAULT_RETRY. ramsd answers with the data and the grant, and
 * pushes the home's invalidations and downgrades, which zap or write-protect
 * the page in every local mapping and hand dirty data back.
 *
 * Calls of a handle that need the home's state (LOCK, UNLOCK, LOCKED, WAIT,
 * WAKE, and write(), a one-sided STORE) are requests too: ramsd performs each
 * through a home handle of its own for this /dev/rams handle (named by the
 * handle's id), so leases, their write counts and waits have the home's
 * semantics; CLOSE at the handle's release closes that home handle, which
 * ends its leases there.
 *
 * Locking is rams_internal.h invariant 7. Requests are reference counted:
 * the channel's reference (while queued or in flight) and one per waiter.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/delay.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/poll.h>
#include <linux/rmap.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <linux/version.h>
#include <linux/xarray.h>

#include "rams_internal.h"

/* Page states, in order of what they allow. */
#define RAMS_PS_INVALID 0
#define RAMS_PS_SHARED  1
#define RAMS_PS_EXCL    2

/* The largest errno an answer may carry (EHWPOISON, the last of the errno values). */
#define RAMS_CTL_MAX_ERRNO 133

/* Failed faults remembered until the faulting thread retries (see rams_remote_fault). */
#define RAMS_FAULT_FAILS 16

struct rams_fault_fail {
	pid_t pid;                     /* 0: free */
	pgoff_t idx;
};

struct rams_remote {
	u64 id;                        /* in rams_ctl_segments; requests name it */
	bool ro_export;
	bool dead;                     /* the channel closed: WRITE_ONCE/READ_ONCE */
	u8 *state;                     /* RAMS_PS_* per page, changed under the page lock */
	struct xarray pending;         /* page -> struct rams_req, under rams_ctl_mu */
	spinlock_t fail_lock;
	struct rams_fault_fail fails[RAMS_FAULT_FAILS];
	unsigned int next_fail;
};

struct rams_req {
	struct kref ref;
	struct list_head node;         /* in the queue or in flight, under rams_ctl_mu */
	u64 id;
	u32 kind;
	u32 flags;
	u64 segment_id;
	struct rams_segment *seg;      /* READ, WRITE, RELEASE of a segment: a reference */
	u64 page;
	char name[RAMS_NAME_BYTES];
	/* Calls (LOCK..CLOSE): the rams_ctl_request.op fields. */
	u64 handle;
	u64 offset;
	u64 length;
	s64 timeout_ns;
	u64 lock_id;
	u32 value;
	void *payload;                 /* STORE: `length` bytes, constant once queued */
	/* Results, under rams_ctl_mu. */
	bool done;
	bool abandoned;                /* ATTACH, LOCK: its waiter gave up */
	int status;
	u64 size;
	u64 result;                    /* the answer's value */
	bool ro_export;
	wait_queue_head_t wq;
};

static DEFINE_MUTEX(rams_ctl_mu);
static struct rams_handle *rams_ctl_owner;   /* the control handle, under rams_ctl_mu */
static LIST_HEAD(rams_ctl_queue);             /* not yet received */
static LIST_HEAD(rams_ctl_inflight);          /* received, not answered */
static DECLARE_WAIT_QUEUE_HEAD(rams_ctl_wq);  /* ramsd waits here for requests */
static u64 rams_ctl_next_id = 1;
static u64 rams_ctl_next_segment = 1;
static u64 rams_ctl_next_handle = 1;
static DEFINE_XARRAY(rams_ctl_segments);     /* id -> live remote segment */

/* HOST:PORT/NAME: 3..63 bytes of [A-Za-z0-9._:/[]-], with a ':' and a '/'. ramsd parses it. */
int rams_remote_validate_name(const char *name)
{
	size_t len = strnlen(name, RAMS_NAME_BYTES);
	size_t i;

	if (len == RAMS_NAME_BYTES)
		return -ENAMETOOLONG;
	if (len < 3 || !strchr(name, ':') || !strchr(name, '/'))
		return -EINVAL;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-' || c == ':' || c == '/' || c == '[' || c == ']'))
			return -EINVAL;
	}
	return 0;
}

static struct rams_req *rams_req_alloc(u32 kind, struct rams_segment *seg, gfp_t gfp)
{
	struct rams_req *req = kzalloc(sizeof(*req), gfp);

	if (!req)
		return NULL;
	kref_init(&req->ref);
	INIT_LIST_HEAD(&req->node);
	init_waitqueue_head(&req->wq);
	req->kind = kind;
	if (seg) {
		kref_get(&seg->ref);
		req->seg = seg;
		req->segment_id = seg->remote->id;
	}
	atomic64_inc(&rams_counters.remote_requests);
	return req;
}

static void rams_req_free(struct kref *ref)
{
	struct rams_req *req = container_of(ref, struct rams_req, ref);

	if (req->seg)
		rams_segment_put(req->seg);
	kvfree(req->payload);
	kfree(req);
	atomic64_dec(&rams_counters.remote_requests);
}

/* Never under rams_ctl_mu: the last reference may drop a segment's. */
static void rams_req_put(struct rams_req *req)
{
	kref_put(&req->ref, rams_req_free);
}

static bool rams_req_is_call(u32 kind)
{
	return kind >= RAMS_CTL_LOCK && kind <= RAMS_CTL_CLOSE;
}

/* Queues `req` (taking the channel's reference, which it already has). */
static void rams_req_queue(struct rams_req *req)
{
	lockdep_assert_held(&rams_ctl_mu);
	req->id = rams_ctl_next_id++;
	list_add_tail(&req->node, &rams_ctl_queue);
	wake_up_interruptible(&rams_ctl_wq);
}

/* Records the outcome of `req` and wakes its waiters. */
static void rams_req_finish(struct rams_req *req, int status)
{
	lockdep_assert_held(&rams_ctl_mu);
	if (req->seg && xa_load(&req->seg->remote->pending, req->page) == req)
		xa_erase(&req->seg->remote->pending, req->page);
	req->status = status;
	WRITE_ONCE(req->done, true);
	wake_up_all(&req->wq);
}


/* Asks ramsd to forget segment `id` (its ATTACH succeeded, but no segment was made of it). */
void rams_remote_forget(u64 id)
{
	struct rams_req *req = rams_req_alloc(RAMS_CTL_RELEASE, NULL, GFP_KERNEL | __GFP_NOFAIL);

	req->segment_id = id;
	mutex_lock(&rams_ctl_mu);
	if (rams_ctl_owner) {
		rams_req_queue(req);
		req = NULL;
	}
	mutex_unlock(&rams_ctl_mu);
	if (req)
		rams_req_put(req);
}

int rams_remote_open(const char *name, bool rdonly, u64 *size, bool *ro_export, u64 *id)
{
	struct rams_req *req = rams_req_alloc(RAMS_CTL_ATTACH, NULL, GFP_KERNEL_ACCOUNT);
	int ret, status;

	if (!req)
		return -ENOMEM;
	strscpy(req->name, name, sizeof(req->name));
	req->flags = rdonly ? RAMS_CTL_RDONLY : 0;
	mutex_lock(&rams_ctl_mu);
	if (!rams_ctl_owner) {
		mutex_unlock(&rams_ctl_mu);
		rams_req_put(req);
		return -ENOTCONN;
	}
	req->segment_id = rams_ctl_next_segment++;
	rams_req_queue(req);
	kref_get(&req->ref); /* ours */
	mutex_unlock(&rams_ctl_mu);

	ret = wait_event_killable(req->wq, READ_ONCE(req->done));
	mutex_lock(&rams_ctl_mu);
	if (!req->done)
		req->abandoned = true; /* a late success is forgotten at ramsd */
	status = req->status;
	*size = req->size;
	*ro_export = req->ro_export;
	*id = req->segment_id;
	mutex_unlock(&rams_ctl_mu);
	rams_req_put(req);
	if (ret)
		return -EINTR;
	return status;
}

int rams_remote_init_segment(struct rams_segment *seg, u64 id, bool ro_export)
{
	struct rams_remote *r = kzalloc(sizeof(*r), GFP_KERNEL_ACCOUNT);
	int ret;

	if (!r)
		goto fail;
	r->state = kvcalloc(seg->npages, 1, GFP_KERNEL_ACCOUNT);
	if (!r->state)
		goto fail;
	r->id = id;
	r->ro_export = ro_export;
	xa_init(&r->pending);
	spin_lock_init(&r->fail_lock);
	mutex_lock(&rams_ctl_mu);
	/* A channel that closed meanwhile makes it dead from the start. */
	r->dead = !rams_ctl_owner;
	ret = xa_err(xa_store(&rams_ctl_segments, id, seg, GFP_KERNEL));
	if (!ret)
		seg->remote = r;
	mutex_unlock(&rams_ctl_mu);
	if (ret)
		goto fail;
	return 0;
fail:
	if (r)
		kvfree(r->state);
	kfree(r);
	rams_remote_forget(id);
	return -ENOMEM;
}

/* The segment's last reference is gone; no request names it any more (each holds one). */
void rams_remote_free_segment(struct rams_segment *seg)
{
	struct rams_remote *r = seg->remote;

	mutex_lock(&rams_ctl_mu);
	xa_erase(&rams_ctl_segments, r->id);
	mutex_unlock(&rams_ctl_mu);
	WARN_ON(!xa_empty(&r->pending));
	xa_destroy(&r->pending);
	kvfree(r->state);
	kfree(r);
}

/*
 * The last handle detached (its name is already gone): ramsd gets RELEASE
 * with a reference to the segment, hands the dirty pages back and answers;
 * the pages live until then. Without a channel there is nobody to tell.
 */
void rams_remote_last_detach(struct rams_segment *seg)
{
	struct rams_req *req = rams_req_alloc(RAMS_CTL_RELEASE, seg, GFP_KERNEL | __GFP_NOFAIL);

	mutex_lock(&rams_ctl_mu);
	if (rams_ctl_owner && !seg->remote->dead) {
		rams_req_queue(req);
		req = NULL;
	}
	mutex_unlock(&rams_ctl_mu);
	if (req)
		rams_req_put(req);
}

bool rams_remote_dead(struct rams_segment *seg)
{
	return READ_ONCE(seg->remote->dead);
}

bool rams_remote_readonly(struct rams_segment *seg)
{
	return seg->remote->ro_export;
}

void rams_remote_fill_info(struct rams_segment *seg, struct rams_info *info)
{
	info->flags |= RAMS_INFO_REMOTE;
	if (rams_remote_dead(seg))
		info->flags |= RAMS_INFO_DEAD;
}

/*
 * The pending request for (seg, idx), made and queued when there is none,
 * with a reference for the caller. ERR_PTR(-EIO) when the segment is dead.
 * NULL when the page's state already allows the access: a grant was
 * installed since the caller looked (its request is gone from `pending`
 * only after the install, under rams_ctl_mu), and asking again would tell
 * ramsd that this host has no copy while the home records it as holding
 * one (EXCL asked for as a WRITE without RAMS_CTL_HAVE_COPY): the caller
 * looks again.
 */
static struct rams_req *rams_remote_request(struct rams_segment *seg, pgoff_t idx, bool write)
{
	struct rams_remote *r = seg->remote;
	struct rams_req *fresh = rams_req_alloc(write ? RAMS_CTL_WRITE : RAMS_CTL_READ, seg,
						GFP_KERNEL_ACCOUNT);
	struct rams_req *req;
	int ret = 0;

	if (!fresh)
		return ERR_PTR(-ENOMEM);
	fresh->page = idx;
	mutex_lock(&rams_ctl_mu);
	if (READ_ONCE(r->dead) || !rams_ctl_owner) {
		ret = -EIO;
		goto out_unlock;
	}
	req = xa_load(&r->pending, idx);
	if (!req) {
		u8 state = READ_ONCE(r->state[idx]);

		if (state >= (write ? RAMS_PS_EXCL : RAMS_PS_SHARED))
			goto out_unlock; /* req NULL: look again */
		if (write && state == RAMS_PS_SHARED)
			fresh->flags |= RAMS_CTL_HAVE_COPY;
		ret = xa_err(xa_store(&r->pending, idx, fresh, GFP_KERNEL));
		if (ret)
			goto out_unlock;
		req = fresh;
		fresh = NULL;
		rams_req_queue(req);
	}
	kref_get(&req->ref);
out_unlock:
	mutex_unlock(&rams_ctl_mu);
	if (fresh)
		rams_req_put(fresh);
	return ret ? ERR_PTR(ret) : req;
}

/* Waits for `req`; 0 or its error, -EINTR when killed. Drops the caller's reference. */
static int rams_req_wait_put(struct rams_req *req)
{
	int ret = wait_event_killable(req->wq, READ_ONCE(req->done));

	if (!ret)
		ret = READ_ONCE(req->status);
	else
		ret = -EINTR;
	rams_req_put(req);
	return ret;
}

/* Waits until page `idx` has a copy (SHARED or EXCL), asking ramsd as needed. */
static int rams_remote_need(struct rams_segment *seg, pgoff_t idx)
{
	for (;;) {
		struct rams_req *req;
		int ret;

		if (rams_remote_dead(seg))
			return -EIO;
		if (READ_ONCE(seg->remote->state[idx]) >= RAMS_PS_SHARED)
			return 0;
		req = rams_remote_request(seg, idx, false);
		if (!req)
			continue;
		if (IS_ERR(req))
			return PTR_ERR(req);
		ret = rams_req_wait_put(req);
		if (ret)
			return ret;
	}
}

/*
 * The page at `idx`, locked and holding a copy, for a read() to copy from.
 * Waits (killably) without holding anything.
 */
static struct page *rams_remote_lock_page(struct rams_segment *seg, pgoff_t idx)
{
	for (;;) {
		struct page *page;
		int ret = rams_remote_need(seg, idx);

		if (ret)
			return ERR_PTR(ret);
		page = rams_segment_page(seg, idx, true);
		if (IS_ERR(page))
			return page;
		if (lock_page_killable(page)) {
			put_page(page);
			return ERR_PTR(-EINTR);
		}
		if (READ_ONCE(seg->remote->state[idx]) >= RAMS_PS_SHARED && !rams_remote_dead(seg))
			return page;
		unlock_page(page);
		put_page(page);
	}
}

/*
 * read() of a remote segment, through a bounce buffer so that no user copy
 * happens under a page lock: each page is copied out under its lock. Bytes
 * copied, or an error when none. (write() is a STORE at the home.)
 */
ssize_t rams_remote_copy_out(struct rams_segment *seg, struct iov_iter *to, u64 pos, size_t len)
{
	void *buf = kmalloc(PAGE_SIZE, GFP_KERNEL);
	ssize_t ret = 0;
	size_t done = 0;

	if (!buf)
		return -ENOMEM;
	while (done < len) {
		size_t off = (pos + done) & ~PAGE_MASK;
		size_t n = min_t(size_t, len - done, PAGE_SIZE - off);
		struct page *page = rams_remote_lock_page(seg, (pos + done) >> PAGE_SHIFT);
		size_t copied;

		if (IS_ERR(page)) {
			ret = PTR_ERR(page);
			break;
		}
		memcpy_from_page(buf, page, off, n);
		unlock_page(page);
		put_page(page);
		copied = copy_to_iter(buf, n, to);
		done += copied;
		if (copied < n) {
			ret = -EFAULT;
			break;
		}
		cond_resched();
	}
	kfree(buf);
	return done ? done : ret;
}

/* Queues a call without a waiter (CLOSE, or UNLOCK of a lease nobody waits for). */
static void rams_remote_send(struct rams_segment *seg, u32 kind, u64 handle, u64 lock_id)
{
	struct rams_req *req = rams_req_alloc(kind, seg, GFP_KERNEL | __GFP_NOFAIL);

	req->handle = handle;
	req->lock_id = lock_id;
	mutex_lock(&rams_ctl_mu);
	if (rams_ctl_owner && !READ_ONCE(seg->remote->dead)) {
		rams_req_queue(req);
		req = NULL;
	}
	mutex_unlock(&rams_ctl_mu);
	if (req)
		rams_req_put(req);
}

/*
 * Performs call `req` (made by rams_req_alloc with the handle's segment, its
 * fields set) at the home for handle `h`, waiting killably; consumes `req`.
 * 0 or the home's error, with the answer's value in *value; EIO for a dead
 * segment; EINTR when killed (a lease granted meanwhile is unlocked).
 */
static int rams_remote_call(struct rams_handle *h, struct rams_req *req, u64 *value)
{
	struct rams_segment *seg = req->seg;
	bool blocking = req->kind == RAMS_CTL_LOCK || req->kind == RAMS_CTL_WAIT;
	bool lost_lock;
	int ret, status;
	u64 result;

	mutex_lock(&rams_ctl_mu);
	if (READ_ONCE(seg->remote->dead) || !rams_ctl_owner) {
		mutex_unlock(&rams_ctl_mu);
		rams_req_put(req);
		return -EIO;
	}
	if (!h->remote_id)
		h->remote_id = rams_ctl_next_handle++;
	req->handle = h->remote_id;
	rams_req_queue(req);
	kref_get(&req->ref); /* ours */
	mutex_unlock(&rams_ctl_mu);

	if (blocking)
		atomic64_inc(&rams_counters.waiters);
	ret = wait_event_killable(req->wq, READ_ONCE(req->done));
	if (blocking)
		atomic64_dec(&rams_counters.waiters);
	mutex_lock(&rams_ctl_mu);
	if (!req->done)
		req->abandoned = true; /* a late grant is unlocked by the answer */
	status = req->status;
	result = req->result;
	lost_lock = ret && req->done && req->kind == RAMS_CTL_LOCK && !status;
	mutex_unlock(&rams_ctl_mu);
	if (lost_lock)
		rams_remote_send(seg, RAMS_CTL_UNLOCK, req->handle, result);
	rams_req_put(req);
	if (ret)
		return -EINTR;
	*value = result;
	return status;
}

/* REQUIRES: the request was validated (rams_ioctl.c), the handle is writable. */
int rams_remote_lock(struct rams_handle *h, struct rams_segment *seg, struct rams_lock *lock)
{
	struct rams_req *req = rams_req_alloc(RAMS_CTL_LOCK, seg, GFP_KERNEL_ACCOUNT);
	u64 id;
	int ret;

	if (!req)
		return -ENOMEM;
	req->offset = lock->offset;
	req->length = lock->len;
	req->value = lock->writes;
	if (lock->flags & RAMS_LOCK_NONBLOCK) {
		req->flags = RAMS_CTL_TIMED; /* timeout 0: never waits */
	} else if (lock->flags & RAMS_LOCK_TIMEOUT) {
		req->flags = RAMS_CTL_TIMED;
		req->timeout_ns = lock->timeout_ns;
	}
	ret = rams_remote_call(h, req, &id);
	if (ret == -EAGAIN)
		ret = -EWOULDBLOCK;
	if (ret)
		return ret;
	lock->id = id;
	lock->result = 0; /* the home does not report a holder gone */
	return 0;
}

/* UNLOCK(id), or LOCKED(id) when `query`: 1 when the home says this handle holds it, else 0. */
int rams_remote_unlock(struct rams_handle *h, struct rams_segment *seg, u64 id, bool query)
{
	struct rams_req *req = rams_req_alloc(query ? RAMS_CTL_LOCKED : RAMS_CTL_UNLOCK, seg,
					      GFP_KERNEL_ACCOUNT);
	u64 held;
	int ret;

	if (!req)
		return -ENOMEM;
	req->lock_id = id;
	ret = rams_remote_call(h, req, &held);
	return ret ? ret : (query ? (int)held : 0);
}

/* REQUIRES: the request was validated (rams_ioctl.c). */
int rams_remote_wait(struct rams_handle *h, struct rams_segment *seg, const struct rams_wait *wait)
{
	struct rams_req *req = rams_req_alloc(RAMS_CTL_WAIT, seg, GFP_KERNEL_ACCOUNT);
	u64 unused;

	if (!req)
		return -ENOMEM;
	req->offset = wait->offset;
	req->value = wait->expected;
	if (wait->flags & RAMS_WAIT_TIMEOUT) {
		req->flags = RAMS_CTL_TIMED;
		req->timeout_ns = wait->timeout_ns;
	}
	return rams_remote_call(h, req, &unused);
}

/* REQUIRES: the request was validated (rams_ioctl.c). Waiters woken, or an error. */
int rams_remote_wake(struct rams_handle *h, struct rams_segment *seg, const struct rams_wake *wake)
{
	struct rams_req *req = rams_req_alloc(RAMS_CTL_WAKE, seg, GFP_KERNEL_ACCOUNT);
	u64 woken;
	int ret;

	if (!req)
		return -ENOMEM;
	req->offset = wake->offset;
	req->value = min_t(u32, wake->count, INT_MAX);
	ret = rams_remote_call(h, req, &woken);
	return ret ? ret : (int)woken;
}

/*
 * write() of a remote segment: a one-sided STORE at the home through the
 * handle's home handle, so the home's leases bind it and count it (the home
 * invalidates every host's copy of the pages first, this host's included).
 * At most RAMS_CTL_STORE_MAX bytes (a short write beyond). Under seg->rw
 * exclusively, like a local write; a WRITE_WAIT handle that meets another
 * holder's lease (EBUSY) retries every 10 ms without it, interruptibly. Each
 * attempt's request owns a copy of the bytes (ramsd may still read a request
 * whose waiter is gone).
 */
ssize_t rams_remote_write(struct rams_handle *h, struct rams_segment *seg, struct iov_iter *from,
			  u64 pos, size_t len, bool nowait)
{
	void *buf;
	size_t copied;
	int ret;

	if (seg->remote->ro_export)
		return -EROFS;
	if (nowait)
		return -EAGAIN;
	len = min_t(size_t, len, RAMS_CTL_STORE_MAX);
	buf = kvmalloc(len, GFP_KERNEL_ACCOUNT);
	if (!buf)
		return -ENOMEM;
	copied = copy_from_iter(buf, len, from);
	if (!copied) {
		kvfree(buf);
		return -EFAULT;
	}
	for (;;) {
		struct rams_req *req = rams_req_alloc(RAMS_CTL_STORE, seg, GFP_KERNEL_ACCOUNT);
		u64 written = 0;

		if (req)
			req->payload = kvmalloc(copied, GFP_KERNEL_ACCOUNT);
		if (!req || !req->payload) {
			if (req)
				rams_req_put(req);
			ret = -ENOMEM;
			break;
		}
		memcpy(req->payload, buf, copied);
		req->offset = pos;
		req->length = copied;
		if (down_write_killable(&seg->rw)) {
			rams_req_put(req);
			ret = -EINTR;
			break;
		}
		ret = rams_remote_call(h, req, &written);
		up_write(&seg->rw);
		if (!ret)
			ret = written;
		if (ret != -EBUSY || !h->write_wait)
			break;
		if (msleep_interruptible(10) || signal_pending(current)) {
			ret = -ERESTARTSYS; /* nothing was written */
			break;
		}
	}
	kvfree(buf);
	return ret;
}

/* The handle is released: its home handle closes, ending its leases there. */
void rams_remote_handle_release(struct rams_handle *h, struct rams_segment *seg)
{
	if (h->remote_id)
		rams_remote_send(seg, RAMS_CTL_CLOSE, h->remote_id, 0);
}

static void rams_fail_record(struct rams_remote *r, pgoff_t idx)
{
	spin_lock(&r->fail_lock);
	r->fails[r->next_fail].pid = current->pid;
	r->fails[r->next_fail].idx = idx;
	r->next_fail = (r->next_fail + 1) % RAMS_FAULT_FAILS;
	spin_unlock(&r->fail_lock);
}

static bool rams_fail_take(struct rams_remote *r, pgoff_t idx)
{
	bool found = false;
	int i;

	spin_lock(&r->fail_lock);
	for (i = 0; i < RAMS_FAULT_FAILS; i++) {
		if (r->fails[i].pid == current->pid && r->fails[i].idx == idx) {
			r->fails[i].pid = 0;
			found = true;
			break;
		}
	}
	spin_unlock(&r->fail_lock);
	return found;
}

static void rams_release_fault_lock(struct vm_fault *vmf)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
	release_fault_lock(vmf);
#else
	mmap_read_unlock(vmf->vma->vm_mm);
#endif
}

/*
 * A fault on a remote segment (idx inside it). With the page's state good
 * enough the page is returned locked, so a push cannot slip between the check
 * and the PTE. Else the request is made and waited for with mmap_lock
 * dropped (VM_FAULT_RETRY), like userfaultfd; an answer with an error is
 * remembered for the same thread's retry, which gets SIGBUS. Callers that
 * cannot retry (some get_user_pages users) wait holding the lock, killably.
 * A write fault asks for the page exclusively; a write to a page mapped
 * read-only comes through rams_remote_page_mkwrite, which zaps it so that
 * the write faults here again.
 */
vm_fault_t rams_remote_fault(struct vm_fault *vmf, struct rams_segment *seg)
{
	struct rams_remote *r = seg->remote;
	bool write = vmf->flags & FAULT_FLAG_WRITE;
	u8 need = write ? RAMS_PS_EXCL : RAMS_PS_SHARED;
	pgoff_t idx = vmf->pgoff;
	struct rams_req *req;
	int ret;

	if (rams_remote_dead(seg))
		return VM_FAULT_SIGBUS;
	if ((vmf->flags & FAULT_FLAG_TRIED) && rams_fail_take(r, idx))
		return VM_FAULT_SIGBUS;
	if (READ_ONCE(r->state[idx]) >= need) {
		struct page *page = rams_segment_page(seg, idx, true);

		if (IS_ERR(page))
			return PTR_ERR(page) == -ENOMEM ? VM_FAULT_OOM : VM_FAULT_SIGBUS;
		lock_page(page);
		if (READ_ONCE(r->state[idx]) >= need && !rams_remote_dead(seg)) {
			vmf->page = page;
			return VM_FAULT_LOCKED;
		}
		unlock_page(page);
		put_page(page);
	}
	req = rams_remote_request(seg, idx, write);
	if (!req)
		return VM_FAULT_NOPAGE; /* granted meanwhile: the access is retried */
	if (IS_ERR(req))
		return PTR_ERR(req) == -ENOMEM ? VM_FAULT_OOM : VM_FAULT_SIGBUS;
	if (!(vmf->flags & FAULT_FLAG_ALLOW_RETRY)) {
		ret = rams_req_wait_put(req);
		return ret ? VM_FAULT_SIGBUS : VM_FAULT_NOPAGE; /* NOPAGE: the access is retried */
	}
	if (vmf->flags & FAULT_FLAG_RETRY_NOWAIT) {
		rams_req_put(req);
		return VM_FAULT_RETRY;
	}
	rams_release_fault_lock(vmf);
	/* From here on the VMA may go; req holds the segment. */
	ret = wait_event_killable(req->wq, READ_ONCE(req->done));
	if (!ret && READ_ONCE(req->status))
		rams_fail_record(r, idx);
	rams_req_put(req);
	return VM_FAULT_RETRY; /* killed: the fault handler sees the fatal signal */
}

vm_fault_t rams_remote_page_mkwrite(struct vm_fault *vmf, struct rams_segment *seg)
{
	struct rams_remote *r = seg->remote;
	struct page *page = vmf->page;
	pgoff_t idx = vmf->pgoff;

	if (rams_remote_dead(seg) || r->ro_export)
		return VM_FAULT_SIGBUS;
	lock_page(page);
	if (page->mapping != seg->shm->f_mapping) {
		unlock_page(page);
		return VM_FAULT_NOPAGE;
	}
	if (READ_ONCE(r->state[idx]) == RAMS_PS_EXCL) {
		set_page_dirty(page);
		return VM_FAULT_LOCKED;
	}
	unlock_page(page);
	/* No waiting here (mmap_lock is held and cannot be dropped): refault as a write. */
	unmap_mapping_range(seg->shm->f_mapping, (loff_t)idx << PAGE_SHIFT, PAGE_SIZE, 0);
	return VM_FAULT_NOPAGE;
}

/* ---- The control handle ---- */

int rams_ctl_become(struct rams_handle *h)
{
	int ret = 0;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (mutex_lock_killable(&h->attach_mu))
		return -EINTR;
	if (h->seg) {
		ret = -EISCONN;
		goto out;
	}
	mutex_lock(&rams_ctl_mu);
	if (rams_ctl_owner)
		ret = -EBUSY;
	else
		rams_ctl_owner = h;
	mutex_unlock(&rams_ctl_mu);
	if (!ret)
		WRITE_ONCE(h->control, true);
out:
	mutex_unlock(&h->attach_mu);
	return ret;
}

/*
 * ramsd closed the control handle (or died): every request fails with
 * ENOTCONN, every remote segment becomes dead and is zapped from every
 * mapping, so each later access faults with SIGBUS or fails with EIO.
 */
void rams_ctl_release(struct rams_handle *h)
{
	struct rams_req *req, *next;
	struct rams_segment *seg;
	unsigned long id;
	LIST_HEAD(failed);

	mutex_lock(&rams_ctl_mu);
	if (rams_ctl_owner != h) {
		mutex_unlock(&rams_ctl_mu);
		return;
	}
	rams_ctl_owner = NULL;
	list_splice_init(&rams_ctl_queue, &failed);
	list_splice_tail_init(&rams_ctl_inflight, &failed);
	list_for_each_entry(req, &failed, node)
		rams_req_finish(req, -ENOTCONN);
	xa_for_each(&rams_ctl_segments, id, seg)
		WRITE_ONCE(seg->remote->dead, true);
	mutex_unlock(&rams_ctl_mu);
	list_for_each_entry_safe(req, next, &failed, node) {
		list_del_init(&req->node);
		rams_req_put(req); /* the channel's */
	}
	for (id = 0;; id++) {
		mutex_lock(&rams_ctl_mu);
		seg = xa_find(&rams_ctl_segments, &id, ULONG_MAX, XA_PRESENT);
		if (seg && !kref_get_unless_zero(&seg->ref))
			seg = ERR_PTR(-ENOENT); /* being freed */
		mutex_unlock(&rams_ctl_mu);
		if (!seg)
			break;
		if (IS_ERR(seg))
			continue;
		unmap_mapping_range(seg->shm->f_mapping, 0, 0, 0);
		rams_segment_put(seg);
	}
}

__poll_t rams_ctl_poll(struct file *file, struct poll_table_struct *wait)
{
	__poll_t mask = 0;

	poll_wait(file, &rams_ctl_wq, wait);
	mutex_lock(&rams_ctl_mu);
	if (!list_empty(&rams_ctl_queue))
		mask |= EPOLLIN | EPOLLRDNORM;
	mutex_unlock(&rams_ctl_mu);
	return mask | EPOLLOUT | EPOLLWRNORM;
}

/* The oldest queued request, moved in flight; it goes back to the queue when the copy fails. */
static int rams_ctl_recv(void __user *arg, bool nonblock)
{
	struct rams_ctl_request out;
	struct rams_req *req;

	for (;;) {
		mutex_lock(&rams_ctl_mu);
		req = list_first_entry_or_null(&rams_ctl_queue, struct rams_req, node);
		if (req)
			break;
		mutex_unlock(&rams_ctl_mu);
		if (nonblock)
			return -EAGAIN;
		if (wait_event_interruptible(rams_ctl_wq, !list_empty_careful(&rams_ctl_queue)))
			return -ERESTARTSYS;
	}
	list_move_tail(&req->node, &rams_ctl_inflight);
	memset(&out, 0, sizeof(out));
	out.id = req->id;
	out.kind = req->kind;
	out.flags = req->flags;
	out.segment = req->segment_id;
	out.page = req->page;
	if (req->kind == RAMS_CTL_ATTACH) {
		memcpy(out.name, req->name, sizeof(out.name));
	} else if (rams_req_is_call(req->kind)) {
		out.op.handle = req->handle;
		out.op.offset = req->offset;
		out.op.length = req->length;
		out.op.timeout_ns = req->timeout_ns;
		out.op.lock_id = req->lock_id;
		out.op.value = req->value;
	}
	mutex_unlock(&rams_ctl_mu);
	if (copy_to_user(arg, &out, sizeof(out))) {
		mutex_lock(&rams_ctl_mu);
		if (!READ_ONCE(req->done))
			list_move(&req->node, &rams_ctl_queue);
		mutex_unlock(&rams_ctl_mu);
		return -EFAULT;
	}
	return 0;
}

static struct rams_req *rams_ctl_find_inflight(u64 id)
{
	struct rams_req *req;

	lockdep_assert_held(&rams_ctl_mu);
	list_for_each_entry(req, &rams_ctl_inflight, node)
		if (req->id == id)
			return req;
	return NULL;
}

/* Whether `a` fits the request it answers (nothing is changed when it does not). */
static bool rams_ctl_answer_fits(const struct rams_ctl_answer *a, const struct rams_req *req)
{
	if (a->status)
		return true; /* checked: nothing else set */
	if (rams_req_is_call(req->kind)) {
		if (a->grant || a->data || a->size || a->flags)
			return false;
		switch (req->kind) {
		case RAMS_CTL_LOCK:
			return true; /* any id */
		case RAMS_CTL_LOCKED:
			return a->value <= 1;
		case RAMS_CTL_WAKE:
			return a->value <= req->value;
		case RAMS_CTL_STORE:
			return a->value == req->length;
		}
		return !a->value;
	}
	if (a->value)
		return false;
	switch (req->kind) {
	case RAMS_CTL_ATTACH:
		return !a->grant && !a->data && a->size && a->size <= rams_max_segment_bytes;
	case RAMS_CTL_READ:
	case RAMS_CTL_WRITE:
		if (a->size || a->flags || !a->grant)
			return false;
		if (req->kind == RAMS_CTL_WRITE && a->grant != RAMS_CTL_GRANT_WRITE)
			return false;
		if (a->grant == RAMS_CTL_GRANT_WRITE && req->seg->remote->ro_export)
			return false;
		/* Keeping the local copy is an upgrade's answer only. */
		return a->data || req->kind == RAMS_CTL_WRITE;
	case RAMS_CTL_RELEASE:
		return !a->grant && !a->data && !a->size && !a->flags;
	}
	return false;
}

/*
 * Installs a page grant: the data (when given) and the new state, under the
 * page lock, after zapping any mapping of an older copy. -EINVAL, changing
 * nothing, for an answer without data when no copy is left to keep.
 */
static int rams_ctl_install(struct rams_req *req, const struct rams_ctl_answer *a, const void *data)
{
	struct rams_segment *seg = req->seg;
	struct rams_remote *r = seg->remote;
	u8 state = a->grant == RAMS_CTL_GRANT_WRITE ? RAMS_PS_EXCL : RAMS_PS_SHARED;
	pgoff_t idx = req->page;
	struct page *page = rams_segment_page(seg, idx, true);
	u8 old;

	if (IS_ERR(page))
		return PTR_ERR(page);
	lock_page(page);
	old = r->state[idx];
	if (!data && old == RAMS_PS_INVALID) {
		unlock_page(page);
		put_page(page);
		return -EINVAL;
	}
	if (data) {
		if (old != RAMS_PS_INVALID)
			unmap_mapping_range(seg->shm->f_mapping, (loff_t)idx << PAGE_SHIFT, PAGE_SIZE, 0);
		memcpy_to_page(page, 0, data, PAGE_SIZE);
	} else if (old == RAMS_PS_EXCL && state == RAMS_PS_SHARED) {
		folio_mkclean(page_folio(page));
	}
	set_page_dirty(page); /* shmem must keep it: reclaim swaps it, never drops it */
	WRITE_ONCE(r->state[idx], state);
	unlock_page(page);
	put_page(page);
	return 0;
}

static int rams_ctl_answer(void __user *arg)
{
	struct rams_ctl_answer a;
	struct rams_req *req;
	void *data = NULL;
	bool forget = false, unlock_lost;
	int ret = 0;

	if (copy_from_user(&a, arg, sizeof(a)))
		return -EFAULT;
	/* errno values only: kernel-internal codes (ERESTARTSYS, 512 and up) must not reach callers. */
	if (a.reserved0 || a.reserved[0] || a.status > 0 || a.status < -RAMS_CTL_MAX_ERRNO ||
	    a.grant > RAMS_CTL_GRANT_WRITE || (a.flags & ~RAMS_CTL_RDONLY))
		return -EINVAL;
	if (a.status && (a.grant || a.data || a.size || a.flags || a.value))
		return -EINVAL;
	/* ENOSYS means "no such system call" to callers: not ramsd's to give. */
	if (a.status == -ENOSYS)
		a.status = -EIO;
	if (a.data) {
		data = kmalloc(PAGE_SIZE, GFP_KERNEL);
		if (!data)
			return -ENOMEM;
		if (copy_from_user(data, u64_to_user_ptr(a.data), PAGE_SIZE)) {
			kfree(data);
			return -EFAULT;
		}
	}
	mutex_lock(&rams_ctl_mu);
	req = rams_ctl_find_inflight(a.id);
	if (!req || !rams_ctl_answer_fits(&a, req)) {
		mutex_unlock(&rams_ctl_mu);
		kfree(data);
		return -EINVAL;
	}
	list_del_init(&req->node); /* ours now: no other answer finds it */
	mutex_unlock(&rams_ctl_mu);

	if (!a.status && (req->kind == RAMS_CTL_READ || req->kind == RAMS_CTL_WRITE)) {
		ret = rams_ctl_install(req, &a, data);
		if (ret == -EINVAL) {
			mutex_lock(&rams_ctl_mu);
			list_add_tail(&req->node, &rams_ctl_inflight); /* unanswered still */
			mutex_unlock(&rams_ctl_mu);
			kfree(data);
			return ret;
		}
	}
	kfree(data);
	mutex_lock(&rams_ctl_mu);
	if (req->kind == RAMS_CTL_ATTACH && !a.status) {
		req->size = a.size;
		req->ro_export = a.flags & RAMS_CTL_RDONLY;
		forget = req->abandoned;
	}
	if (!a.status)
		req->result = a.value;
	/* A lease whose waiter was killed: nobody will unlock it. */
	unlock_lost = req->kind == RAMS_CTL_LOCK && !a.status && req->abandoned;
	rams_req_finish(req, ret ? ret : a.status);
	mutex_unlock(&rams_ctl_mu);
	if (forget)
		rams_remote_forget(req->segment_id);
	if (unlock_lost)
		rams_remote_send(req->seg, RAMS_CTL_UNLOCK, req->handle, a.value);
	rams_req_put(req); /* the channel's */
	return ret;
}

static struct rams_segment *rams_ctl_segment_get(u64 id)
{
	struct rams_segment *seg;

	mutex_lock(&rams_ctl_mu);
	seg = xa_load(&rams_ctl_segments, id);
	if (seg && !kref_get_unless_zero(&seg->ref))
		seg = NULL;
	mutex_unlock(&rams_ctl_mu);
	return seg;
}

/*
 * An INVALIDATE or DOWNGRADE from the home: applied under the page lock;
 * an exclusive copy's data goes back through p.data. When that copy-out
 * fails the page's state is put back (its mappings were zapped or
 * write-protected, which only costs a fault) and EFAULT returned.
 */
static int rams_ctl_push(struct rams_ctl_push __user *arg)
{
	struct rams_ctl_push p;
	struct rams_segment *seg;
	struct rams_remote *r;
	struct page *page;
	void *buf = NULL;
	int ret = 0;
	u8 old;

	if (copy_from_user(&p, arg, sizeof(p)))
		return -EFAULT;
	if ((p.kind != RAMS_CTL_INVALIDATE && p.kind != RAMS_CTL_DOWNGRADE) || p.dirty || !p.data ||
	    p.reserved[0] || p.reserved[1])
		return -EINVAL;
	/* The answer must be writable before anything changes. */
	if (put_user(0U, &arg->dirty))
		return -EFAULT;
	seg = rams_ctl_segment_get(p.segment);
	if (!seg)
		return -EINVAL;
	r = seg->remote;
	if (p.page >= seg->npages) {
		ret = -EINVAL;
		goto out_put;
	}
	page = rams_segment_page(seg, p.page, false);
	if (!page)
		goto out_put; /* never filled: INVALID, nothing to do */
	if (IS_ERR(page)) {
		ret = PTR_ERR(page);
		goto out_put;
	}
	buf = kmalloc(PAGE_SIZE, GFP_KERNEL);
	if (!buf) {
		put_page(page);
		ret = -ENOMEM;
		goto out_put;
	}
	lock_page(page);
	old = r->state[p.page];
	if (p.kind == RAMS_CTL_INVALIDATE && old != RAMS_PS_INVALID) {
		WRITE_ONCE(r->state[p.page], RAMS_PS_INVALID);
		unmap_mapping_range(seg->shm->f_mapping, (loff_t)p.page << PAGE_SHIFT, PAGE_SIZE, 0);
	} else if (p.kind == RAMS_CTL_DOWNGRADE && old == RAMS_PS_EXCL) {
		WRITE_ONCE(r->state[p.page], RAMS_PS_SHARED);
		folio_mkclean(page_folio(page));
		set_page_dirty(page);
	}
	/*
	 * Copied only once no mapping can write it any more (zapped or
	 * write-protected above): a store through a writable PTE between a
	 * copy taken first and the zap would stay here only, and be lost.
	 */
	if (old == RAMS_PS_EXCL) {
		memcpy_from_page(buf, page, 0, PAGE_SIZE);
		p.dirty = 1;
	}
	unlock_page(page);
	if (p.dirty && (copy_to_user(u64_to_user_ptr(p.data), buf, PAGE_SIZE) ||
			put_user(1U, &arg->dirty))) {
		lock_page(page);
		WRITE_ONCE(r->state[p.page], old);
		unlock_page(page);
		ret = -EFAULT;
	}
	put_page(page);
out_put:
	kfree(buf);
	rams_segment_put(seg);
	return ret;
}

/* The bytes of STORE request `id`, in flight, copied to d.data. */
static int rams_ctl_data(void __user *arg)
{
	struct rams_ctl_data d;
	struct rams_req *req;
	int ret = 0;

	if (copy_from_user(&d, arg, sizeof(d)))
		return -EFAULT;
	if (d.reserved || !d.data)
		return -EINVAL;
	mutex_lock(&rams_ctl_mu);
	req = rams_ctl_find_inflight(d.id);
	if (!req || req->kind != RAMS_CTL_STORE || d.length != req->length) {
		mutex_unlock(&rams_ctl_mu);
		return -EINVAL;
	}
	kref_get(&req->ref); /* the payload is constant while the request lives */
	mutex_unlock(&rams_ctl_mu);
	if (copy_to_user(u64_to_user_ptr(d.data), req->payload, req->length))
		ret = -EFAULT;
	rams_req_put(req);
	return ret;
}

long rams_ctl_ioctl(struct rams_handle *h, unsigned int cmd, void __user *arg, bool nonblock)
{
	if (!READ_ONCE(h->control))
		return -EPERM;
	switch (cmd) {
	case RAMS_IOC_CTL_RECV:
		return rams_ctl_recv(arg, nonblock);
	case RAMS_IOC_CTL_ANSWER:
		return rams_ctl_answer(arg);
	case RAMS_IOC_CTL_PUSH:
		return rams_ctl_push(arg);
	case RAMS_IOC_CTL_DATA:
		return rams_ctl_data(arg);
	}
	return -ENOTTY;
}
