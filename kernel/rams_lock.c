// SPDX-License-Identifier: GPL-2.0-only
/*
 * Range locks with write leases. A lease is an exclusive lock on
 * [offset, offset+len) held by a handle (an open file description, like OFD
 * locks). While it is held, other handles' writes overlapping it fail with
 * EBUSY or wait. It ends after `writes` writes by its holder that overlap the
 * range, on UNLOCK, or when the holder's file is released (last close, also
 * by exit or SIGKILL). Waiters for a lease that ended by release are told
 * (RAMS_LOCK_HOLDER_GONE), since the holder may have left the data half
 * updated. Release, not flush: flush runs on every close() of every dup and
 * forked copy of the descriptor, so a child closing its inherited copy would
 * drop the parent's lock.
 */
#include <linux/hrtimer.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "rams_internal.h"

static void rams_lease_free(struct rams_segment *seg, struct rams_lease *lease)
{
	lockdep_assert_held(&seg->lock_mu);
	list_del(&lease->node);
	lease->owner->nleases--;
	seg->nleases--;
	atomic64_dec(&rams_counters.leases);
	kfree(lease);
}

static struct rams_lease *rams_lease_conflict(struct rams_segment *seg, struct rams_handle *h,
					      u64 offset, u64 len, bool own_too)
{
	struct rams_lease *lease;

	lockdep_assert_held(&seg->lock_mu);
	list_for_each_entry(lease, &seg->leases, node)
		if ((own_too || lease->owner != h) &&
		    rams_ranges_overlap(lease->offset, lease->len, offset, len))
			return lease;
	return NULL;
}

/*
 * One attempt: 0 and the new lease's id, -EAGAIN on conflict (also when
 * `nowait` and a write is in flight), -EINTR on a fatal signal, or an error.
 */
static int rams_lock_try(struct rams_handle *h, struct rams_segment *seg,
			 struct rams_lock *req, struct rams_lease **spare, bool nowait)
{
	struct rams_lease *lease;
	int ret = 0;

	/*
	 * Shared seg->rw: the grant is ordered after writes in flight. A writer
	 * holds it across a copy from user memory that may take long, so this
	 * never waits uninterruptibly, and NONBLOCK does not wait at all.
	 */
	if (nowait ? !down_read_trylock(&seg->rw) : down_read_killable(&seg->rw))
		return nowait ? -EAGAIN : -EINTR;
	mutex_lock(&seg->lock_mu);
	lease = rams_lease_conflict(seg, h, req->offset, req->len, true);
	if (lease) {
		ret = lease->owner == h ? -EDEADLK : -EAGAIN;
		goto out_unlock;
	}
	if (h->nleases >= RAMS_MAX_LEASES_PER_HANDLE) {
		ret = -ENOLCK;
		goto out_unlock;
	}
	lease = *spare;
	*spare = NULL;
	lease->owner = h;
	lease->id = seg->next_lock_id++;
	lease->offset = req->offset;
	lease->len = req->len;
	lease->writes_left = req->writes;
	list_add_tail(&lease->node, &seg->leases);
	h->nleases++;
	seg->nleases++;
	atomic64_inc(&rams_counters.leases);
	req->id = lease->id;
out_unlock:
	mutex_unlock(&seg->lock_mu);
	up_read(&seg->rw);
	return ret;
}

/*
 * Waits on seg->lock_wq until woken or the absolute deadline (NULL: none),
 * as wait_woken() does but on an hrtimer. False when the deadline passed.
 */
static bool rams_lock_sleep(struct wait_queue_entry *wait, ktime_t *deadline)
{
	bool expired = false;

	set_current_state(TASK_INTERRUPTIBLE);
	if (!(wait->flags & WQ_FLAG_WOKEN))
		expired = schedule_hrtimeout(deadline, HRTIMER_MODE_ABS) == 0;
	__set_current_state(TASK_RUNNING);
	/* Pairs with woken_wake_function(), as in wait_woken(). */
	smp_store_mb(wait->flags, wait->flags & ~WQ_FLAG_WOKEN);
	return !expired;
}

/* Tries until granted, a fatal error, a signal or the deadline. */
static int rams_lock_wait(struct rams_handle *h, struct rams_segment *seg,
			  struct rams_lock *req, struct rams_lease **spare,
			  struct rams_lock_waiter *waiter)
{
	DEFINE_WAIT_FUNC(wait, woken_wake_function);
	bool timed = req->flags & RAMS_LOCK_TIMEOUT;
	ktime_t deadline = ktime_add_safe(ktime_get(), ns_to_ktime(req->timeout_ns));
	int ret;

	mutex_lock(&seg->lock_mu);
	list_add_tail(&waiter->node, &seg->lock_waiters);
	mutex_unlock(&seg->lock_mu);
	atomic64_inc(&rams_counters.waiters);
	add_wait_queue(&seg->lock_wq, &wait);
	for (;;) {
		ret = rams_lock_try(h, seg, req, spare, false);
		if (ret != -EAGAIN)
			break;
		if (signal_pending(current)) {
			ret = rams_restart_error(timed);
			break;
		}
		if (!rams_lock_sleep(&wait, timed ? &deadline : NULL)) {
			ret = rams_lock_try(h, seg, req, spare, false);
			if (ret == -EAGAIN)
				ret = -ETIMEDOUT;
			break;
		}
	}
	remove_wait_queue(&seg->lock_wq, &wait);
	atomic64_dec(&rams_counters.waiters);
	mutex_lock(&seg->lock_mu);
	list_del(&waiter->node);
	mutex_unlock(&seg->lock_mu);
	return ret;
}

/* REQUIRES: the request was validated (rams_ioctl.c). */
int rams_lock(struct rams_handle *h, struct rams_lock *req)
{
	struct rams_segment *seg = rams_handle_segment(h);
	struct rams_lock_waiter waiter = { .offset = req->offset, .len = req->len };
	bool nowait = (req->flags & RAMS_LOCK_NONBLOCK) ||
		      ((req->flags & RAMS_LOCK_TIMEOUT) && req->timeout_ns == 0);
	struct rams_lease *spare;
	int ret;

	if (seg->remote)
		return rams_remote_lock(h, seg, req); /* a lease at the home */
	spare = kzalloc(sizeof(*spare), GFP_KERNEL_ACCOUNT);
	if (!spare)
		return -ENOMEM;
	req->result = 0;
	ret = rams_lock_try(h, seg, req, &spare, nowait);
	if (ret == -EAGAIN && !nowait) {
		ret = rams_lock_wait(h, seg, req, &spare, &waiter);
		if (ret == 0 && waiter.holder_gone)
			req->result |= RAMS_LOCK_HOLDER_GONE;
	}
	if (ret == -EAGAIN)
		ret = -EWOULDBLOCK;
	kfree(spare);
	return ret;
}

static struct rams_lease *rams_lease_find(struct rams_segment *seg, struct rams_handle *h, u64 id)
{
	struct rams_lease *lease;

	lockdep_assert_held(&seg->lock_mu);
	list_for_each_entry(lease, &seg->leases, node)
		if (lease->id == id && lease->owner == h)
			return lease;
	return NULL;
}

int rams_unlock(struct rams_handle *h, u64 id)
{
	struct rams_segment *seg = rams_handle_segment(h);
	struct rams_lease *lease;
	int ret = -ENOENT;

	if (seg->remote)
		return rams_remote_unlock(h, seg, id, false);
	mutex_lock(&seg->lock_mu);
	lease = rams_lease_find(seg, h, id);
	if (lease) {
		rams_lease_free(seg, lease);
		ret = 0;
	}
	mutex_unlock(&seg->lock_mu);
	if (!ret)
		wake_up_all(&seg->lock_wq);
	return ret;
}

/* 1 when this handle still holds lock `id`, else 0. */
int rams_locked(struct rams_handle *h, u64 id)
{
	struct rams_segment *seg = rams_handle_segment(h);
	int held;

	if (seg->remote)
		return rams_remote_unlock(h, seg, id, true);
	mutex_lock(&seg->lock_mu);
	held = rams_lease_find(seg, h, id) != NULL;
	mutex_unlock(&seg->lock_mu);
	return held;
}

/* REQUIRES: seg->rw held exclusively. EBUSY when another handle's lease overlaps. */
int rams_lease_check_write(struct rams_handle *h, u64 offset, u64 len)
{
	struct rams_segment *seg = rams_handle_segment(h);
	int ret;

	lockdep_assert_held_write(&seg->rw);
	mutex_lock(&seg->lock_mu);
	ret = rams_lease_conflict(seg, h, offset, len, false) ? -EBUSY : 0;
	mutex_unlock(&seg->lock_mu);
	return ret;
}

/* Counts a successful write by `h` against its overlapping leases. */
void rams_lease_account_write(struct rams_handle *h, u64 offset, u64 len)
{
	struct rams_segment *seg = rams_handle_segment(h);
	struct rams_lease *lease, *next;
	bool ended = false;

	if (!READ_ONCE(h->nleases))
		return;
	mutex_lock(&seg->lock_mu);
	list_for_each_entry_safe(lease, next, &seg->leases, node) {
		if (lease->owner != h || lease->writes_left == 0 ||
		    !rams_ranges_overlap(lease->offset, lease->len, offset, len))
			continue;
		if (--lease->writes_left == 0) {
			rams_lease_free(seg, lease);
			ended = true;
		}
	}
	mutex_unlock(&seg->lock_mu);
	if (ended)
		wake_up_all(&seg->lock_wq);
}

/* The handle is being released: end its leases and tell their waiters. */
void rams_lease_drop_all(struct rams_handle *h)
{
	struct rams_segment *seg = rams_handle_segment(h);
	struct rams_lease *lease, *next;
	struct rams_lock_waiter *waiter;
	bool ended = false;

	mutex_lock(&seg->lock_mu);
	list_for_each_entry_safe(lease, next, &seg->leases, node) {
		if (lease->owner != h)
			continue;
		list_for_each_entry(waiter, &seg->lock_waiters, node)
			if (rams_ranges_overlap(lease->offset, lease->len,
						waiter->offset, waiter->len))
				waiter->holder_gone = true;
		rams_lease_free(seg, lease);
		ended = true;
	}
	mutex_unlock(&seg->lock_mu);
	if (ended)
		wake_up_all(&seg->lock_wq);
}
