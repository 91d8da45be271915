// SPDX-License-Identifier: GPL-2.0
/*
 * rams.ko: named shared memory segments with range locks and wait/wake,
 * served by the misc device /dev/rams. This file holds the module's entry
 * points, its limits (module parameters), its counters, the per-open handle
 * and /proc/rams. The ABI is include/uapi/rams.h; docs/kernel-abi.md tells
 * the semantics.
 */
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>

#include "rams_internal.h"

unsigned long rams_max_segment_bytes = 1UL << 30;
module_param_named(max_segment_bytes, rams_max_segment_bytes, ulong, 0644);
MODULE_PARM_DESC(max_segment_bytes, "Largest segment, in bytes (default 1 GiB)");

unsigned long rams_max_total_bytes = 4UL << 30;
module_param_named(max_total_bytes, rams_max_total_bytes, ulong, 0644);
MODULE_PARM_DESC(max_total_bytes, "Sum of the sizes of all named segments (default 4 GiB)");

unsigned int rams_max_segments = 1024;
module_param_named(max_segments, rams_max_segments, uint, 0644);
MODULE_PARM_DESC(max_segments, "Most named segments at once (default 1024)");

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
		rams_lease_drop_all(h);
		atomic_dec(&seg->attached);
		rams_segment_put(seg);
	}
	mutex_destroy(&h->attach_mu);
	kfree(h);
	atomic64_dec(&rams_counters.handles);
	return 0;
}

static const struct file_operations rams_fops = {
	.owner = THIS_MODULE,
	.open = rams_open,
	.release = rams_release,
	.read = rams_read,
	.write = rams_write,
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
	seq_printf(m, "abi %d segments %lld reserved_bytes %lld pages %lld handles %lld leases %lld waiters %lld\n",
		   RAMS_ABI_VERSION, atomic64_read(&rams_counters.segments),
		   atomic64_read(&rams_counters.reserved_bytes),
		   atomic64_read(&rams_counters.pages),
		   atomic64_read(&rams_counters.handles),
		   atomic64_read(&rams_counters.leases),
		   atomic64_read(&rams_counters.waiters));
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
	       !atomic64_read(&rams_counters.waiters);
}

static int __init rams_init(void)
{
	int ret;

	rams_wait_init();
	if (!proc_create_single("rams", 0444, NULL, rams_proc_show)) {
		pr_err("rams: cannot create /proc/rams\n");
		return -ENOMEM;
	}
	ret = misc_register(&rams_misc);
	if (ret) {
		pr_err("rams: cannot register misc device /dev/rams: %d\n", ret);
		goto out_remove_proc;
	}
	pr_info("rams: /dev/rams ready (abi %d)\n", RAMS_ABI_VERSION);
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
	WARN(!rams_counters_zero(), "rams: counters not zero at exit\n");
	pr_info("rams: unloaded, counters zero\n");
}

module_init(rams_init);
module_exit(rams_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("rams: named shared memory segments with range locks and wait/wake");
MODULE_VERSION("0.1.0");
