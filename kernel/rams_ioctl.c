// SPDX-License-Identifier: GPL-2.0-only
/*
 * ioctl dispatch: copies each argument in, rejects unknown flags and
 * non-zero reserved fields with EINVAL, checks ranges against the segment,
 * then calls the part that does the work. Unknown commands get ENOTTY.
 * All argument layouts are identical for 32-bit callers (see uapi/rams.h),
 * so compat_ioctl only converts the pointer.
 */
#include <linux/capability.h>
#include <linux/uaccess.h>

#include "rams_internal.h"

static bool rams_zero(const void *p, size_t len)
{
	return memchr_inv(p, 0, len) == NULL;
}

static int rams_ioctl_version(void __user *arg)
{
	struct rams_version v = {
		.abi_version = RAMS_ABI_VERSION,
		.features = RAMS_FEATURES_ALL,
		.max_segment_bytes = rams_max_segment_bytes,
		.max_total_bytes = rams_max_total_bytes,
		.max_segments = rams_max_segments,
		.max_user_segments = rams_max_user_segments,
		.max_user_bytes = rams_max_user_bytes,
	};

	return copy_to_user(arg, &v, sizeof(v)) ? -EFAULT : 0;
}

static int rams_ioctl_attach(struct rams_handle *h, struct file *file, void __user *arg)
{
	struct rams_segment *seg;
	struct rams_attach req;
	bool created;
	int ret;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if ((req.flags & ~RAMS_ATTACH_FLAGS_ALL) || (req.mode & ~0777U) ||
	    req.created || req.reserved0 || !rams_zero(req.reserved, sizeof(req.reserved)))
		return -EINVAL;
	if ((req.flags & RAMS_ATTACH_EXCL) && !(req.flags & RAMS_ATTACH_CREATE))
		return -EINVAL;
	if ((req.flags & RAMS_ATTACH_REMOTE) && (req.flags & RAMS_ATTACH_CREATE))
		return -EINVAL; /* a remote segment is made at its home */
	ret = (req.flags & RAMS_ATTACH_REMOTE) ? rams_remote_validate_name(req.name)
					       : rams_validate_name(req.name);
	if (ret)
		return ret;
	if (!(req.flags & RAMS_ATTACH_RDONLY) && !(file->f_mode & FMODE_WRITE))
		return -EBADF;

	/* Held across the copy-out below: killable, and it only stalls this handle. */
	if (mutex_lock_killable(&h->attach_mu))
		return -EINTR;
	if (h->seg || READ_ONCE(h->control)) {
		ret = -EISCONN;
		goto out_unlock;
	}
	ret = (req.flags & RAMS_ATTACH_REMOTE) ? rams_segment_attach_remote(&req, &seg, &created)
					       : rams_segment_attach(&req, &seg, &created);
	if (ret)
		goto out_unlock;
	req.size = seg->size;
	req.created = created;
	if (copy_to_user(arg, &req, sizeof(req))) {
		ret = -EFAULT;
		goto out_detach;
	}
	h->writable = !(req.flags & RAMS_ATTACH_RDONLY);
	h->write_wait = req.flags & RAMS_ATTACH_WRITE_WAIT;
	h->read_seq = atomic64_read(&seg->write_seq);
	/* Pairs with smp_load_acquire() in rams_handle_segment(). */
	smp_store_release(&h->seg, seg);
	mutex_unlock(&h->attach_mu);
	return 0;

out_detach:
	if (seg->remote) {
		rams_segment_detach(seg);
		goto out_unlock;
	}
	atomic_dec(&seg->attached);
	if (created)
		rams_segment_unlink(seg); /* by pointer: the name may be someone else's by now */
	rams_segment_put(seg);
out_unlock:
	mutex_unlock(&h->attach_mu);
	return ret;
}

static int rams_ioctl_info(struct rams_segment *seg, void __user *arg)
{
	struct rams_info info;

	rams_segment_fill_info(seg, &info);
	return copy_to_user(arg, &info, sizeof(info)) ? -EFAULT : 0;
}

static int rams_ioctl_lock(struct rams_handle *h, struct rams_segment *seg, void __user *arg)
{
	struct rams_lock req;
	int ret;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if ((req.flags & ~RAMS_LOCK_FLAGS_ALL) || req.id || req.result || req.reserved0 ||
	    !rams_zero(req.reserved, sizeof(req.reserved)))
		return -EINVAL;
	if ((req.flags & RAMS_LOCK_TIMEOUT) ? req.timeout_ns < 0 : req.timeout_ns != 0)
		return -EINVAL;
	if (req.len == 0 || !rams_range_inside(req.offset, req.len, seg->size))
		return -EINVAL;
	if (!h->writable)
		return -EBADF;
	ret = rams_lock(h, &req);
	if (ret)
		return ret;
	if (copy_to_user(arg, &req, sizeof(req))) {
		rams_unlock(h, req.id);
		return -EFAULT;
	}
	return 0;
}

static int rams_ioctl_lock_ref(struct rams_handle *h, unsigned int cmd, void __user *arg)
{
	struct rams_lock_ref req;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.reserved)
		return -EINVAL;
	return cmd == RAMS_IOC_UNLOCK ? rams_unlock(h, req.id) : rams_locked(h, req.id);
}

static int rams_word_valid(struct rams_segment *seg, u64 offset)
{
	if (offset % sizeof(u32) || !rams_range_inside(offset, sizeof(u32), seg->size))
		return -EINVAL;
	return 0;
}

static int rams_ioctl_wait(struct rams_handle *h, struct rams_segment *seg, void __user *arg)
{
	struct rams_wait req;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if ((req.flags & ~RAMS_WAIT_FLAGS_ALL) || req.reserved)
		return -EINVAL;
	if ((req.flags & RAMS_WAIT_TIMEOUT) ? req.timeout_ns < 0 : req.timeout_ns != 0)
		return -EINVAL;
	if (rams_word_valid(seg, req.offset))
		return -EINVAL;
	return rams_wait(h, &req);
}

static int rams_ioctl_wake(struct rams_handle *h, struct rams_segment *seg, void __user *arg)
{
	struct rams_wake req;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.flags || req.reserved || rams_word_valid(seg, req.offset))
		return -EINVAL;
	return rams_wake(h, &req);
}

static int rams_ioctl_remove(void __user *arg)
{
	struct rams_remove req;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.reserved)
		return -EINVAL;
	return rams_segment_remove(req.name);
}

static int rams_ioctl_list(void __user *arg)
{
	struct rams_list req;
	u32 count;
	int ret;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.count || !rams_zero(req.reserved, sizeof(req.reserved)))
		return -EINVAL;
	ret = rams_segment_list(u64_to_user_ptr(req.entries), req.capacity, &count);
	if (ret)
		return ret;
	req.count = count;
	return copy_to_user(arg, &req, sizeof(req)) ? -EFAULT : 0;
}

static int rams_ioctl_stats(void __user *arg)
{
	struct rams_stats s = {
		.segments = atomic64_read(&rams_counters.segments),
		.reserved_bytes = atomic64_read(&rams_counters.reserved_bytes),
		.pages = atomic64_read(&rams_counters.pages),
		.handles = atomic64_read(&rams_counters.handles),
		.leases = atomic64_read(&rams_counters.leases),
		.waiters = atomic64_read(&rams_counters.waiters),
		.remote_requests = atomic64_read(&rams_counters.remote_requests),
	};

	return copy_to_user(arg, &s, sizeof(s)) ? -EFAULT : 0;
}

/* Commands that need an attached handle. */
static long rams_ioctl_segment(struct rams_handle *h, unsigned int cmd, void __user *arg)
{
	struct rams_segment *seg = rams_handle_segment(h);

	if (!seg)
		return -ENOTCONN;
	switch (cmd) {
	case RAMS_IOC_INFO:
		return rams_ioctl_info(seg, arg);
	case RAMS_IOC_LOCK:
		return rams_ioctl_lock(h, seg, arg);
	case RAMS_IOC_UNLOCK:
	case RAMS_IOC_LOCKED:
		return rams_ioctl_lock_ref(h, cmd, arg);
	case RAMS_IOC_WAIT:
		return rams_ioctl_wait(h, seg, arg);
	case RAMS_IOC_WAKE:
		return rams_ioctl_wake(h, seg, arg);
	}
	return -ENOTTY;
}

long rams_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct rams_handle *h = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case RAMS_IOC_VERSION:
		return rams_ioctl_version(uarg);
	case RAMS_IOC_ATTACH:
		return rams_ioctl_attach(h, file, uarg);
	case RAMS_IOC_REMOVE:
		return rams_ioctl_remove(uarg);
	case RAMS_IOC_LIST:
		return rams_ioctl_list(uarg);
	case RAMS_IOC_STATS:
		return rams_ioctl_stats(uarg);
	case RAMS_IOC_CONTROL:
		return rams_ctl_become(h);
	case RAMS_IOC_CTL_RECV:
	case RAMS_IOC_CTL_ANSWER:
	case RAMS_IOC_CTL_PUSH:
	case RAMS_IOC_CTL_DATA:
		return rams_ctl_ioctl(h, cmd, uarg, file->f_flags & O_NONBLOCK);
	case RAMS_IOC_INFO:
	case RAMS_IOC_LOCK:
	case RAMS_IOC_UNLOCK:
	case RAMS_IOC_LOCKED:
	case RAMS_IOC_WAIT:
	case RAMS_IOC_WAKE:
		return rams_ioctl_segment(h, cmd, uarg);
	}
	return -ENOTTY;
}
