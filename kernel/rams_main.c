// SPDX-License-Identifier: GPL-2.0-only
/*
 * rams.ko: named shared memory segments with range locks and wait/wake,
 * served by the misc device /dev/rams. This file holds the module's entry
 * points, its limits (module parameters), its counters, the per-open handle
 * and /proc/rams. The ABI is include/uapi/rams.h; docs/kernel-abi.md tells
 * the semantics.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/version.h>

#include "rams_internal.h"

unsigned long rams_max_segment_bytes = 1UL << 30;
module_param_named(max_segment_bytes, rams_max_segment_bytes, ulong, 0644);
MODULE_PARM_DESC(max_segment_bytes, "Largest segment, in bytes (default 1 GiB)");

/* 0 at load: rams_limits_init() sets a fraction of RAM. */
unsigned long rams_max_total_bytes;
module_param_named(max_total_bytes, rams_max_total_bytes, ulong, 0644);
MODULE_PARM_DESC(max_total_bytes,
		 "Sum of the sizes of all segments until destroyed (default half of RAM)");

unsigned int rams_max_segments = 1024;
module_param_named(max_segments, rams_max_segments, uint, 0644);
MODULE_PARM_DESC(max_segments, "Most segments at once, until destroyed (default 1024)");

unsigned long rams_max_user_bytes;
module_param_named(max_user_bytes, rams_max_user_bytes, ulong, 0644);
MODULE_PARM_DESC(max_user_bytes, "Sum of the sizes of one uid's segments (default a quarter of RAM)");

unsigned int rams_max_user_segments = 512;
module_param_named(max_user_segments, rams_max_user_segments, uint, 0644);
MODULE_PARM_DESC(max_user_segments, "Most segments one uid may have (default 512)");

struct rams_counters rams_counters;

static int rams_open(struct inode *inode, struct file *file)
{
	struct rams_handle *h = kzalloc(sizeof(*h), GFP_KERNEL_ACCOUNT);

	if (!h)
		return -ENOMEM;
	mutex_init(&h->attach_mu);
	file->private_data = h;
	/* Concurrent read()/write() on one descriptor keep a consistent f_pos. */
	file->f_mode |= FMODE_ATOMIC_POS;
	atomic64_inc(&rams_counters.handles);
	return 0;
}

/* Last reference to the open file: closed everywhere, or its holders exited. */
static int rams_release(struct inode *inode, struct file *file)
{
	struct rams_handle *h = file->private_data;
	struct rams_segment *seg = h->seg;

	if (seg) {
		if (seg->remote)
			rams_remote_handle_release(h, seg); /* its leases at the home */
		else
			rams_lease_drop_all(h);
		rams_segment_detach(seg);
	}
	if (h->control)
		rams_ctl_release(h);
	mutex_destroy(&h->attach_mu);
	kfree(h);
	atomic64_dec(&rams_counters.handles);
	return 0;
}

static const struct file_operations rams_fops = {
	.owner = THIS_MODULE,
	.open = rams_open,
	.release = rams_release,
	.read_iter = rams_read_iter,
	.write_iter = rams_write_iter,
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
	.splice_read = copy_splice_read,
#else
	.splice_read = generic_file_splice_read,
#endif
	.splice_write = iter_file_splice_write,
	.fsync = noop_fsync,
	.llseek = rams_llseek,
	.poll = rams_poll,
	.mmap = rams_mmap,
	.unlocked_ioctl = rams_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice rams_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "rams",
	.fops = &rams_fops,
	.mode = 0666, /* access is checked per segment */
};

/* /proc/rams: counters, then one line per named segment. */
static int rams_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "abi %d segments %lld reserved_bytes %lld pages %lld handles %lld leases %lld waiters %lld remote_requests %lld\n",
		   RAMS_ABI_VERSION, atomic64_read(&rams_counters.segments),
		   atomic64_read(&rams_counters.reserved_bytes),
		   atomic64_read(&rams_counters.pages),
		   atomic64_read(&rams_counters.handles),
		   atomic64_read(&rams_counters.leases),
		   atomic64_read(&rams_counters.waiters),
		   atomic64_read(&rams_counters.remote_requests));
	seq_puts(m, "# segment name size uid gid mode attached locks pages\n");
	seq_puts(m, "# lock segment id offset len writes_left\n");
	return rams_registry_show(m);
}

static bool rams_counters_zero(void)
{
	return !atomic64_read(&rams_counters.segments) &&
	       !atomic64_read(&rams_counters.reserved_bytes) &&
	       !atomic64_read(&rams_counters.pages) &&
	       !atomic64_read(&rams_counters.handles) &&
	       !atomic64_read(&rams_counters.leases) &&
	       !atomic64_read(&rams_counters.waiters) &&
	       !atomic64_read(&rams_counters.remote_requests);
}

static int __init rams_init(void)
{
	int ret;

	rams_wait_init();
	rams_limits_init();
	if (!proc_create_single("rams", 0444, NULL, rams_proc_show)) {
		pr_err("cannot create /proc/rams\n");
		return -ENOMEM;
	}
	ret = misc_register(&rams_misc);
	if (ret) {
		pr_err("cannot register misc device /dev/rams: %d\n", ret);
		goto out_remove_proc;
	}
	pr_info("/dev/rams ready (abi %d)\n", RAMS_ABI_VERSION);
	return 0;

out_remove_proc:
	remove_proc_entry("rams", NULL);
	return ret;
}

static void __exit rams_exit(void)
{
	misc_deregister(&rams_misc);
	remove_proc_entry("rams", NULL);
	/* Segments and open files pin the module, so nothing can be left. */
	if (WARN(!rams_counters_zero(), "rams: counters not zero at exit\n"))
		return;
	pr_info("unloaded, counters zero\n");
}

module_init(rams_init);
module_exit(rams_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("rams: named shared memory segments with range locks and wait/wake");
MODULE_VERSION("0.1.0");
