// SPDX-License-Identifier: GPL-2.0-only
/*
 * read, write (as read_iter/write_iter, so readv/writev, splice, sendfile and
 * copy_file_range work), lseek and poll on an attached handle. Each read or
 * write call, however many iovecs it has, is atomic with respect to the others
 * on the segment: reads hold seg->rw
 * shared, writes exclusive (see rams_internal.h). Writes respect other
 * handles' leases: EBUSY, or a wait when the handle asked for it at ATTACH.
 */
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/poll.h>
#include <linux/uio.h>
#include <linux/sched/signal.h>
#include <linux/uaccess.h>

#include "rams_internal.h"

/* Copies [pos, pos+len) out; holes read as zeros. Bytes copied, or an error when none. */
static ssize_t rams_copy_out(struct rams_segment *seg, struct iov_iter *to, u64 pos, size_t len)
{
	size_t done = 0;

	while (done < len) {
		size_t off = (pos + done) & ~PAGE_MASK;
		size_t n = min_t(size_t, len - done, PAGE_SIZE - off);
		struct page *page = rams_segment_page(seg, (pos + done) >> PAGE_SHIFT, false);
		size_t copied;

		if (IS_ERR(page))
			return done ? done : PTR_ERR(page);
		if (page) {
			copied = copy_page_to_iter(page, off, n, to);
			put_page(page);
		} else {
			copied = iov_iter_zero(n, to);
		}
		done += copied;
		if (copied < n)
			return done ? done : -EFAULT;
		cond_resched();
	}
	return done;
}

static ssize_t rams_copy_in(struct rams_segment *seg, struct iov_iter *from, u64 pos, size_t len)
{
	size_t done = 0;

	while (done < len) {
		size_t off = (pos + done) & ~PAGE_MASK;
		size_t n = min_t(size_t, len - done, PAGE_SIZE - off);
		struct page *page = rams_segment_page(seg, (pos + done) >> PAGE_SHIFT, true);
		size_t copied;

		if (IS_ERR(page))
			return done ? done : PTR_ERR(page);
		copied = copy_page_from_iter(page, off, n, from);
		set_page_dirty(page);
		put_page(page);
		done += copied;
		if (copied < n)
			return done ? done : -EFAULT;
		cond_resched();
	}
	return done;
}

ssize_t rams_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct rams_handle *h = iocb->ki_filp->private_data;
	struct rams_segment *seg = rams_handle_segment(h);
	size_t len = iov_iter_count(to);
	ssize_t ret;

	if (!seg)
		return -ENOTCONN;
	if (iocb->ki_pos < 0)
		return -EINVAL;
	if ((u64)iocb->ki_pos >= seg->size || len == 0)
		return 0;
	len = min_t(u64, len, seg->size - iocb->ki_pos);
	if (iocb->ki_flags & IOCB_NOWAIT) {
		if (!down_read_trylock(&seg->rw))
			return -EAGAIN;
	} else if (down_read_killable(&seg->rw)) {
		return -EINTR;
	}
	/* Stable: writers hold seg->rw exclusively. */
	WRITE_ONCE(h->read_seq, atomic64_read(&seg->write_seq));
	ret = seg->remote ? rams_remote_copy_out(seg, to, iocb->ki_pos, len)
			  : rams_copy_out(seg, to, iocb->ki_pos, len);
	up_read(&seg->rw);
	if (ret > 0)
		iocb->ki_pos += ret;
	return ret;
}

/* Takes seg->rw exclusively once no other handle's lease overlaps the range. */
static int rams_write_begin(struct rams_handle *h, struct rams_segment *seg, u64 pos, u64 len,
			    bool nowait)
{
	DEFINE_WAIT_FUNC(wait, woken_wake_function);
	int ret;

	if (nowait || !h->write_wait) {
		if (nowait ? !down_write_trylock(&seg->rw) : down_write_killable(&seg->rw))
			return nowait ? -EAGAIN : -EINTR;
		ret = rams_lease_check_write(h, pos, len);
		if (ret)
			up_write(&seg->rw);
		return ret;
	}
	add_wait_queue(&seg->lock_wq, &wait);
	for (;;) {
		if (down_write_killable(&seg->rw)) {
			ret = -EINTR;
			break;
		}
		ret = rams_lease_check_write(h, pos, len);
		if (ret != -EBUSY)
			break; /* 0: keep seg->rw */
		up_write(&seg->rw);
		if (signal_pending(current)) {
			ret = -ERESTARTSYS;
			break;
		}
		wait_woken(&wait, TASK_INTERRUPTIBLE, MAX_SCHEDULE_TIMEOUT);
	}
	remove_wait_queue(&seg->lock_wq, &wait);
	return ret;
}

/* One call is one write, however many iovecs: atomic, and one count against a lease. */
ssize_t rams_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	struct rams_handle *h = iocb->ki_filp->private_data;
	struct rams_segment *seg = rams_handle_segment(h);
	size_t len = iov_iter_count(from);
	u64 pos = iocb->ki_pos;
	ssize_t ret;

	if (!seg)
		return -ENOTCONN;
	if (!h->writable)
		return -EBADF;
	if (iocb->ki_pos < 0)
		return -EINVAL;
	if (len == 0)
		return 0;
	if (pos >= seg->size)
		return -ENOSPC;
	len = min_t(u64, len, seg->size - pos);
	if (seg->remote) {
		/* The home checks and counts its leases. */
		ret = rams_remote_write(h, seg, from, pos, len, iocb->ki_flags & IOCB_NOWAIT);
		if (ret > 0)
			atomic64_inc(&seg->write_seq);
	} else {
		ret = rams_write_begin(h, seg, pos, len, iocb->ki_flags & IOCB_NOWAIT);
		if (ret)
			return ret;
		ret = rams_copy_in(seg, from, pos, len);
		if (ret > 0) {
			rams_lease_account_write(h, pos, ret);
			atomic64_inc(&seg->write_seq);
		}
		up_write(&seg->rw);
	}
	if (ret > 0) {
		wake_up_interruptible(&seg->poll_wq);
		iocb->ki_pos += ret;
	}
	return ret;
}

loff_t rams_llseek(struct file *file, loff_t off, int whence)
{
	struct rams_handle *h = file->private_data;
	struct rams_segment *seg = rams_handle_segment(h);

	if (!seg)
		return -ENOTCONN;
	return fixed_size_llseek(file, off, whence, seg->size);
}

/* Readable when the segment was written since this handle's last read(). */
__poll_t rams_poll(struct file *file, struct poll_table_struct *wait)
{
	struct rams_handle *h = file->private_data;
	struct rams_segment *seg = rams_handle_segment(h);
	__poll_t mask = 0;

	if (READ_ONCE(h->control))
		return rams_ctl_poll(file, wait);
	if (!seg)
		return EPOLLERR;
	poll_wait(file, &seg->poll_wq, wait);
	if (atomic64_read(&seg->write_seq) != READ_ONCE(h->read_seq))
		mask |= EPOLLIN | EPOLLRDNORM;
	if (h->writable)
		mask |= EPOLLOUT | EPOLLWRNORM;
	return mask;
}
