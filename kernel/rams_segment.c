// SPDX-License-Identifier: GPL-2.0
/*
 * Segments: the registry of named segments, creation within the module's
 * limits, permission checks, attachment, removal, listing and the lazily
 * allocated page store. Locking rules are in rams_internal.h.
 */
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/highmem.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>

#include "rams_internal.h"

static DEFINE_MUTEX(rams_registry_mu);
static LIST_HEAD(rams_registry);   /* under rams_registry_mu */
static u32 rams_nsegments;         /* named segments, under rams_registry_mu */
static u64 rams_named_bytes;       /* reserved by named segments, under rams_registry_mu */

int rams_validate_name(const char *name)
{
	size_t len = strnlen(name, RAMS_NAME_BYTES);
	size_t i;

	if (len == RAMS_NAME_BYTES)
		return -ENAMETOOLONG;
	if (len == 0 || name[0] == '.')
		return -EINVAL;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			return -EINVAL;
	}
	return 0;
}

static struct rams_segment *rams_registry_find(const char *name)
{
	struct rams_segment *seg;

	lockdep_assert_held(&rams_registry_mu);
	list_for_each_entry(seg, &rams_registry, registry_node)
		if (strcmp(seg->name, name) == 0)
			return seg;
	return NULL;
}

/* SysV-IPC style: owner, then group, then other bits; CAP_IPC_OWNER overrides. */
static int rams_segment_permit(struct rams_segment *seg, bool write)
{
	unsigned int granted = seg->mode & 0777;
	unsigned int want = write ? 06 : 04;

	if (uid_eq(current_fsuid(), seg->uid))
		granted >>= 6;
	else if (in_group_p(seg->gid))
		granted >>= 3;
	if ((want & ~granted & 07) == 0)
		return 0;
	if (capable(CAP_IPC_OWNER))
		return 0;
	return -EACCES;
}

static struct rams_segment *rams_segment_create(const struct rams_attach *req)
{
	u64 rounded = PAGE_ALIGN(req->size);
	struct rams_segment *seg;

	lockdep_assert_held(&rams_registry_mu);
	if (req->size == 0)
		return ERR_PTR(-EINVAL);
	if (req->size > rams_max_segment_bytes || rounded < req->size)
		return ERR_PTR(-EFBIG);
	if (rams_nsegments >= rams_max_segments ||
	    rounded > rams_max_total_bytes - min_t(u64, rams_named_bytes, rams_max_total_bytes))
		return ERR_PTR(-ENOSPC);

	seg = kzalloc(sizeof(*seg), GFP_KERNEL_ACCOUNT);
	if (!seg)
		return ERR_PTR(-ENOMEM);
	kref_init(&seg->ref); /* the registry's reference */
	strscpy(seg->name, req->name, sizeof(seg->name));
	seg->size = req->size;
	seg->npages = rounded >> PAGE_SHIFT;
	seg->uid = current_fsuid();
	seg->gid = current_fsgid();
	seg->mode = req->mode & 0777;
	seg->created_ns = ktime_get_real_ns();
	init_rwsem(&seg->rw);
	xa_init(&seg->pages);
	mutex_init(&seg->lock_mu);
	INIT_LIST_HEAD(&seg->leases);
	INIT_LIST_HEAD(&seg->lock_waiters);
	seg->next_lock_id = 1;
	init_waitqueue_head(&seg->lock_wq);
	init_waitqueue_head(&seg->poll_wq);

	/* A segment pins the module: rmmod must not drop data still in use. */
	__module_get(THIS_MODULE);
	list_add_tail(&seg->registry_node, &rams_registry);
	rams_nsegments++;
	rams_named_bytes += rounded;
	atomic64_inc(&rams_counters.segments);
	atomic64_add(rounded, &rams_counters.reserved_bytes);
	return seg;
}

int rams_segment_attach(const struct rams_attach *req, struct rams_segment **out,
			bool *created)
{
	bool write = !(req->flags & RAMS_ATTACH_RDONLY);
	struct rams_segment *seg;
	int ret = 0;

	mutex_lock(&rams_registry_mu);
	seg = rams_registry_find(req->name);
	*created = false;
	if (seg) {
		if ((req->flags & RAMS_ATTACH_CREATE) && (req->flags & RAMS_ATTACH_EXCL))
			ret = -EEXIST;
		else if (req->size != 0 && req->size != seg->size)
			ret = -EINVAL;
		else
			ret = rams_segment_permit(seg, write);
		if (ret)
			goto out_unlock;
	} else {
		if (!(req->flags & RAMS_ATTACH_CREATE)) {
			ret = -ENOENT;
			goto out_unlock;
		}
		seg = rams_segment_create(req);
		if (IS_ERR(seg)) {
			ret = PTR_ERR(seg);
			goto out_unlock;
		}
		*created = true;
	}
	kref_get(&seg->ref); /* the handle's reference */
	atomic_inc(&seg->attached);
	*out = seg;
out_unlock:
	mutex_unlock(&rams_registry_mu);
	return ret;
}

static void rams_segment_free(struct kref *ref)
{
	struct rams_segment *seg = container_of(ref, struct rams_segment, ref);
	struct page *page;
	unsigned long idx;

	WARN_ON(!list_empty(&seg->leases));
	WARN_ON(!list_empty(&seg->lock_waiters));
	xa_for_each(&seg->pages, idx, page) {
		put_page(page);
		atomic64_dec(&rams_counters.pages);
	}
	xa_destroy(&seg->pages);
	atomic64_sub(seg->npages << PAGE_SHIFT, &rams_counters.reserved_bytes);
	atomic64_dec(&rams_counters.segments);
	kfree(seg);
	/* Callers hold an open file of the module, so its code stays. */
	module_put(THIS_MODULE);
}

void rams_segment_put(struct rams_segment *seg)
{
	kref_put(&seg->ref, rams_segment_free);
}

/* Drops the name; the segment lives on while handles are attached. */
int rams_segment_remove(const char *name)
{
	struct rams_segment *seg;
	int ret;

	ret = rams_validate_name(name);
	if (ret)
		return ret;
	mutex_lock(&rams_registry_mu);
	seg = rams_registry_find(name);
	if (!seg) {
		ret = -ENOENT;
		goto out_unlock;
	}
	if (!uid_eq(current_fsuid(), seg->uid) && !capable(CAP_IPC_OWNER)) {
		ret = -EPERM;
		goto out_unlock;
	}
	list_del_init(&seg->registry_node);
	rams_nsegments--;
	rams_named_bytes -= seg->npages << PAGE_SHIFT;
	mutex_unlock(&rams_registry_mu);
	rams_segment_put(seg);
	return 0;
out_unlock:
	mutex_unlock(&rams_registry_mu);
	return ret;
}

void rams_segment_fill_info(struct rams_segment *seg, struct rams_info *info)
{
	memset(info, 0, sizeof(*info));
	strscpy(info->name, seg->name, sizeof(info->name));
	info->size = seg->size;
	info->created_ns = seg->created_ns;
	info->uid = from_kuid_munged(current_user_ns(), seg->uid);
	info->gid = from_kgid_munged(current_user_ns(), seg->gid);
	info->mode = seg->mode;
	info->flags = list_empty(&seg->registry_node) ? RAMS_INFO_REMOVED : 0;
	info->attached = atomic_read(&seg->attached);
	info->locks_held = READ_ONCE(seg->nleases);
	info->pages = atomic64_read(&seg->pages_allocated);
}

int rams_segment_list(struct rams_info __user *entries, u32 capacity, u32 *count)
{
	struct rams_segment *seg;
	struct rams_info info;
	u32 n = 0;
	int ret = 0;

	mutex_lock(&rams_registry_mu);
	list_for_each_entry(seg, &rams_registry, registry_node) {
		if (n < capacity) {
			rams_segment_fill_info(seg, &info);
			if (copy_to_user(&entries[n], &info, sizeof(info))) {
				ret = -EFAULT;
				break;
			}
		}
		n++;
	}
	mutex_unlock(&rams_registry_mu);
	*count = n;
	return ret;
}

/* One line per named segment, then one line per lease it holds. */
int rams_registry_show(struct seq_file *m)
{
	struct rams_segment *seg;
	struct rams_lease *lease;
	struct rams_info info;

	mutex_lock(&rams_registry_mu);
	list_for_each_entry(seg, &rams_registry, registry_node) {
		rams_segment_fill_info(seg, &info);
		seq_printf(m, "segment %s %llu %u %u %o %u %u %llu\n", info.name, info.size,
			   info.uid, info.gid, info.mode, info.attached,
			   info.locks_held, info.pages);
		/* lock_mu nests inside rams_registry_mu; no path takes them the other way. */
		mutex_lock(&seg->lock_mu);
		list_for_each_entry(lease, &seg->leases, node)
			seq_printf(m, "lock %s %llu %llu %llu %u\n", seg->name, lease->id,
				   lease->offset, lease->len, lease->writes_left);
		mutex_unlock(&seg->lock_mu);
	}
	mutex_unlock(&rams_registry_mu);
	return 0;
}

/*
 * The page at `idx`, allocated zeroed on first use when `alloc`. NULL when
 * absent and !alloc; ERR_PTR on allocation failure. Charged to the memcg of
 * the task that touches it first.
 */
struct page *rams_segment_page(struct rams_segment *seg, pgoff_t idx, bool alloc)
{
	struct page *page = xa_load(&seg->pages, idx);
	struct page *old;

	if (page || !alloc)
		return page;
	page = alloc_page(GFP_HIGHUSER | __GFP_ZERO | __GFP_ACCOUNT);
	if (!page)
		return ERR_PTR(-ENOMEM);
	old = xa_cmpxchg(&seg->pages, idx, NULL, page, GFP_KERNEL);
	if (old) {
		__free_page(page);
		return xa_is_err(old) ? ERR_PTR(xa_err(old)) : old;
	}
	atomic64_inc(&seg->pages_allocated);
	atomic64_inc(&rams_counters.pages);
	return page;
}
