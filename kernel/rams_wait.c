// SPDX-License-Identifier: GPL-2.0-only
/*
 * WAIT/WAKE: futex semantics on aligned 32-bit words of a segment, with the
 * module's own hashed wait queues: WAIT/WAKE must work for callers that only
 * read() and write(), and the futex internals are not exported. A waiter is keyed by (segment,
 * offset); the word is read through the segment's page, so WAIT works for
 * words written by write() as well as through mmap.
 *
 * Ordering (the futex argument): a waiter reads the word (in a page it looked
 * up before, checked under the lock to still be the segment's) and queues itself
 * under the bucket lock; a waker changes the word before WAKE and scans under
 * the same lock. Either the waker's scan finds the waiter, or the waiter's
 * locked read comes after the waker's unlock and sees the new value.
 */
#include <linux/hash.h>
#include <linux/highmem.h>
#include <linux/hrtimer.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/spinlock.h>

#include "rams_internal.h"

#define RAMS_WAIT_HASH_BITS 8

struct rams_wait_bucket {
	spinlock_t lock;
	struct list_head waiters; /* struct rams_waiter, under lock */
};

struct rams_waiter {
	struct list_head node;    /* empty once woken */
	struct rams_segment *seg;
	u64 offset;
	struct task_struct *task;
};

static struct rams_wait_bucket rams_wait_table[1 << RAMS_WAIT_HASH_BITS];

void rams_wait_init(void)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rams_wait_table); i++) {
		spin_lock_init(&rams_wait_table[i].lock);
		INIT_LIST_HEAD(&rams_wait_table[i].waiters);
	}
}

static struct rams_wait_bucket *rams_wait_bucket(struct rams_segment *seg, u64 offset)
{
	u64 key = (u64)(uintptr_t)seg ^ hash_64(offset, 64);

	return &rams_wait_table[hash_64(key, RAMS_WAIT_HASH_BITS)];
}

/* The word's value in `page` (NULL: a hole, zero). REQUIRES: offset aligned, inside. */
static u32 rams_word_read(struct page *page, u64 offset)
{
	u32 *kaddr;
	u32 val;

	if (!page)
		return 0;
	kaddr = kmap_local_page(page);
	val = READ_ONCE(kaddr[(offset & ~PAGE_MASK) / sizeof(u32)]);
	kunmap_local(kaddr);
	return val;
}

/*
 * Takes b->lock with the word's page in *pagep (a reference; NULL for a
 * hole). Finding the page may sleep (swap-in), so it is done first and
 * checked again under the lock: a waker that changed the word changed it in
 * that page, before its WAKE scans the bucket.
 */
static int rams_wait_lock_word(struct rams_wait_bucket *b, struct rams_segment *seg,
			       u64 offset, struct page **pagep)
{
	pgoff_t idx = offset >> PAGE_SHIFT;

	for (;;) {
		struct page *page = rams_segment_page(seg, idx, false);

		if (IS_ERR(page))
			return PTR_ERR(page);
		spin_lock(&b->lock);
		if (rams_segment_page_current(seg, idx, page)) {
			*pagep = page;
			return 0;
		}
		spin_unlock(&b->lock);
		if (page)
			put_page(page);
		if (fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
	}
}

/*
 * The error for a wait cut short by a signal, like futex's: the call restarts
 * after SIGSTOP/SIGCONT, the freezer or a handler with SA_RESTART (a timed
 * wait only when no handler ran, and its timeout starts again), else EINTR.
 */
int rams_restart_error(bool timed)
{
	return timed ? -ERESTARTNOHAND : -ERESTARTSYS;
}

static int rams_wait_sleep(struct rams_waiter *w, const struct rams_wait *req)
{
	ktime_t expires;
	ktime_t *expiresp = NULL;

	if (req->flags & RAMS_WAIT_TIMEOUT) {
		expires = ktime_add_safe(ktime_get(), ns_to_ktime(req->timeout_ns));
		expiresp = &expires;
	}
	for (;;) {
		set_current_state(TASK_INTERRUPTIBLE);
		/* Pairs with smp_store_release() in rams_wake(). */
		if (smp_load_acquire(&w->task) == NULL)
			break;
		if (signal_pending(current)) {
			__set_current_state(TASK_RUNNING);
			return rams_restart_error(expiresp != NULL);
		}
		if (!schedule_hrtimeout(expiresp, HRTIMER_MODE_ABS)) {
			__set_current_state(TASK_RUNNING);
			return -ETIMEDOUT;
		}
	}
	__set_current_state(TASK_RUNNING);
	return 0;
}

/* REQUIRES: the request was validated (aligned word inside the segment). */
int rams_wait(struct rams_handle *h, const struct rams_wait *req)
{
	struct rams_segment *seg = rams_handle_segment(h);
	struct rams_wait_bucket *b = rams_wait_bucket(seg, req->offset);
	struct rams_waiter w = { .seg = seg, .offset = req->offset, .task = current };
	struct page *page;
	bool same;
	int ret;

	if (seg->remote)
		return rams_remote_wait(h, seg, req); /* on the home's copy of the word */
	ret = rams_wait_lock_word(b, seg, req->offset, &page);
	if (ret)
		return ret;
	same = rams_word_read(page, req->offset) == req->expected;
	if (same)
		list_add_tail(&w.node, &b->waiters);
	spin_unlock(&b->lock);
	if (page)
		put_page(page);
	if (!same)
		return -EAGAIN;
	atomic64_inc(&rams_counters.waiters);

	ret = rams_wait_sleep(&w, req);

	spin_lock(&b->lock);
	if (!list_empty(&w.node))
		list_del(&w.node);
	else
		ret = 0; /* woken as we gave up: report the wake, it is not lost */
	spin_unlock(&b->lock);
	atomic64_dec(&rams_counters.waiters);
	return ret;
}

#define RAMS_WAKE_BATCH 16

/*
 * Dequeues up to `max` waiters of the word under the bucket lock and takes a
 * reference to their tasks; they are woken after the lock is dropped, so a
 * woken waiter does not find the lock held by its waker.
 */
static int rams_wake_collect(struct rams_wait_bucket *b, struct rams_segment *seg, u64 offset,
			     struct task_struct **tasks, int max)
{
	struct rams_waiter *w, *next;
	int n = 0;

	spin_lock(&b->lock);
	list_for_each_entry_safe(w, next, &b->waiters, node) {
		if (n >= max)
			break;
		if (w->seg != seg || w->offset != offset)
			continue;
		tasks[n] = w->task;
		get_task_struct(tasks[n]);
		list_del_init(&w->node);
		/* Pairs with smp_load_acquire() in rams_wait_sleep(); w may go away after this. */
		smp_store_release(&w->task, NULL);
		n++;
	}
	spin_unlock(&b->lock);
	return n;
}

/* Wakes up to req->count waiters of the word; returns how many. */
int rams_wake(struct rams_handle *h, const struct rams_wake *req)
{
	struct rams_segment *seg = rams_handle_segment(h);
	struct rams_wait_bucket *b = rams_wait_bucket(seg, req->offset);
	struct task_struct *tasks[RAMS_WAKE_BATCH];
	u32 left = min_t(u32, req->count, INT_MAX);
	int woken = 0;

	if (seg->remote)
		return rams_remote_wake(h, seg, req);
	while (left > 0) {
		int n = rams_wake_collect(b, seg, req->offset, tasks,
					  min_t(u32, left, RAMS_WAKE_BATCH));
		int i;

		for (i = 0; i < n; i++) {
			wake_up_process(tasks[i]);
			put_task_struct(tasks[i]);
		}
		woken += n;
		left -= n;
		if (n < RAMS_WAKE_BATCH)
			break;
	}
	return woken;
}
