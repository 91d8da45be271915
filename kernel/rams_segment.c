// SPDX-License-Identifier: GPL-2.0-only
/*
 * Segments: the registry of named segments (one name space per IPC
 * namespace), creation within the module's limits (module-wide and per uid),
 * permission checks, attachment, removal, listing and the page store, a
 * shmem file per segment. Locking rules are in rams_internal.h.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/highmem.h>
#include <linux/ipc_namespace.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/nsproxy.h>
#include <linux/pagemap.h>
#include <linux/proc_ns.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>

#include "rams_internal.h"

/* What one uid's segments use, alive ones (named or still attached). */
struct rams_user {
	struct list_head node;             /* in rams_users */
	kuid_t uid;
	u32 segments;
	u64 bytes;
};

/*
 * An IPC namespace that segments were created in, with one reference to it.
 * When that reference is the only one left, no task can enter the namespace
 * any more, and its names are dropped (rams_sweep_dead_namespaces()).
 */
struct rams_ns {
	struct list_head node;             /* in rams_namespaces */
	struct ipc_namespace *ipc_ns;
	u32 segments;                      /* alive segments created in it */
};

static DEFINE_MUTEX(rams_registry_mu);
static LIST_HEAD(rams_registry);   /* named segments, under rams_registry_mu */
static LIST_HEAD(rams_users);      /* struct rams_user, under rams_registry_mu */
static LIST_HEAD(rams_namespaces); /* struct rams_ns, under rams_registry_mu */
static u32 rams_nsegments;         /* alive segments, under rams_registry_mu */
static u64 rams_alive_bytes;       /* reserved by alive segments, under rams_registry_mu */

/* Defaults the parameters left at 0: half of RAM in all, a quarter per uid. */
void rams_limits_init(void)
{
	u64 ram = (u64)totalram_pages() << PAGE_SHIFT;

	if (!rams_max_total_bytes)
		rams_max_total_bytes = ram / 2;
	if (!rams_max_user_bytes)
		rams_max_user_bytes = ram / 4;
}

static bool rams_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

int rams_validate_name(const char *name)
{
	size_t len = strnlen(name, RAMS_NAME_BYTES);
	size_t i;

	if (len == RAMS_NAME_BYTES)
		return -ENAMETOOLONG;
	if (len == 0 || name[0] == '.')
		return -EINVAL;
	for (i = 0; i < len; i++)
		if (!rams_name_char(name[i]))
			return -EINVAL;
	return 0;
}

static struct ipc_namespace *rams_current_ipc_ns(void)
{
	return current->nsproxy->ipc_ns;
}

static struct rams_segment *rams_registry_find(const char *name)
{
	struct ipc_namespace *ns = rams_current_ipc_ns();
	struct rams_segment *seg;

	lockdep_assert_held(&rams_registry_mu);
	list_for_each_entry(seg, &rams_registry, registry_node)
		if (seg->ns->ipc_ns == ns && strcmp(seg->name, name) == 0)
			return seg;
	return NULL;
}

/* SysV-IPC style: owner, then group, then other bits; CAP_IPC_OWNER overrides. */
static int rams_segment_permit(struct rams_segment *seg, bool write, bool audit)
{
	unsigned int granted = seg->mode & 0777;
	unsigned int want = write ? 06 : 04;

	if (uid_eq(current_fsuid(), seg->uid))
		granted >>= 6;
	else if (in_group_p(seg->gid))
		granted >>= 3;
	if ((want & ~granted & 07) == 0)
		return 0;
	if (audit ? capable(CAP_IPC_OWNER) : ns_capable_noaudit(&init_user_ns, CAP_IPC_OWNER))
		return 0;
	return -EACCES;
}

/* LIST and /proc/rams show a segment to those who may open it. */
static bool rams_segment_visible(struct rams_segment *seg)
{
	return !seg->remote && seg->ns->ipc_ns == rams_current_ipc_ns() &&
	       rams_segment_permit(seg, false, false) == 0;
}

static struct rams_ns *rams_ns_get(struct ipc_namespace *ipc_ns)
{
	struct rams_ns *ns;

	lockdep_assert_held(&rams_registry_mu);
	list_for_each_entry(ns, &rams_namespaces, node)
		if (ns->ipc_ns == ipc_ns)
			return ns;
	ns = kzalloc(sizeof(*ns), GFP_KERNEL_ACCOUNT);
	if (!ns)
		return NULL;
	ns->ipc_ns = get_ipc_ns(ipc_ns);
	list_add(&ns->node, &rams_namespaces);
	return ns;
}

static void rams_ns_put_unused(struct rams_ns *ns)
{
	lockdep_assert_held(&rams_registry_mu);
	if (ns->segments)
		return;
	list_del(&ns->node);
	/* ns.ops is ipcns_operations; put_ipc_ns() itself is not exported. */
	ns->ipc_ns->ns.ops->put(&ns->ipc_ns->ns);
	kfree(ns);
}

#define RAMS_SWEEP_BATCH 16

/*
 * Drops the names of segments whose IPC namespace only this module still
 * references (its last task exited, nothing pins it): nobody can reach them
 * any more. SysV shm frees its segments with the namespace; a module has no
 * hook for that, so it is done lazily, before each creation. Segments still
 * attached live on, as after REMOVE.
 */
static void rams_sweep_dead_namespaces(void)
{
	struct rams_segment *doomed[RAMS_SWEEP_BATCH];
	struct rams_segment *seg, *next;
	int n, i;

	do {
		n = 0;
		if (mutex_lock_killable(&rams_registry_mu))
			return;
		list_for_each_entry_safe(seg, next, &rams_registry, registry_node) {
			if (n == RAMS_SWEEP_BATCH)
				break;
			/* A remote segment's name holds no reference: it goes with its last handle. */
			if (seg->remote || refcount_read(&seg->ns->ipc_ns->ns.count) > 1)
				continue;
			list_del_init(&seg->registry_node);
			doomed[n++] = seg;
		}
		mutex_unlock(&rams_registry_mu);
		for (i = 0; i < n; i++)
			rams_segment_put(doomed[i]); /* the registry's reference */
	} while (n == RAMS_SWEEP_BATCH);
}

static struct rams_user *rams_user_get(kuid_t uid)
{
	struct rams_user *u;

	lockdep_assert_held(&rams_registry_mu);
	list_for_each_entry(u, &rams_users, node)
		if (uid_eq(u->uid, uid))
			return u;
	u = kzalloc(sizeof(*u), GFP_KERNEL_ACCOUNT);
	if (!u)
		return NULL;
	u->uid = uid;
	list_add(&u->node, &rams_users);
	return u;
}

static void rams_user_put_unused(struct rams_user *u)
{
	lockdep_assert_held(&rams_registry_mu);
	if (!u->segments) {
		list_del(&u->node);
		kfree(u);
	}
}

static void rams_user_release(struct rams_user *u, u64 bytes)
{
	lockdep_assert_held(&rams_registry_mu);
	u->segments--;
	u->bytes -= bytes;
	rams_user_put_unused(u);
}

/* ENOSPC past a module-wide limit, EDQUOT past the creator's per-uid limit. */
static int rams_limits_check(struct rams_user *u, u64 rounded)
{
	lockdep_assert_held(&rams_registry_mu);
	if (rams_nsegments >= rams_max_segments ||
	    rounded > rams_max_total_bytes - min_t(u64, rams_alive_bytes, rams_max_total_bytes))
		return -ENOSPC;
	if (u->segments >= rams_max_user_segments ||
	    rounded > rams_max_user_bytes - min_t(u64, u->bytes, rams_max_user_bytes))
		return -EDQUOT;
	return 0;
}

static struct rams_segment *rams_segment_alloc(const struct rams_attach *req, u64 rounded)
{
	char shm_name[RAMS_NAME_BYTES + 8];
	struct rams_segment *seg;

	seg = kzalloc(sizeof(*seg), GFP_KERNEL_ACCOUNT);
	if (!seg)
		return ERR_PTR(-ENOMEM);
	snprintf(shm_name, sizeof(shm_name), "rams:%s", req->name);
	/* VM_NORESERVE: pages are committed as they are touched, like a sparse tmpfs file. */
	seg->shm = shmem_file_setup(shm_name, rounded, VM_NORESERVE);
	if (IS_ERR(seg->shm)) {
		struct rams_segment *err = ERR_CAST(seg->shm);

		kfree(seg);
		return err;
	}
	kref_init(&seg->ref); /* the registry's reference */
	strscpy(seg->name, req->name, sizeof(seg->name));
	seg->size = req->size;
	seg->npages = rounded >> PAGE_SHIFT;
	seg->uid = current_fsuid();
	seg->gid = current_fsgid();
	seg->mode = req->mode & 0777;
	seg->created_ns = ktime_get_real_ns();
	init_rwsem(&seg->rw);
	mutex_init(&seg->lock_mu);
	INIT_LIST_HEAD(&seg->leases);
	INIT_LIST_HEAD(&seg->lock_waiters);
	seg->next_lock_id = 1;
	init_waitqueue_head(&seg->lock_wq);
	init_waitqueue_head(&seg->poll_wq);
	return seg;
}

static struct rams_segment *rams_segment_create(const struct rams_attach *req)
{
	u64 rounded = PAGE_ALIGN(req->size);
	struct rams_segment *seg;
	struct rams_user *u;
	struct rams_ns *ns;
	int ret;

	lockdep_assert_held(&rams_registry_mu);
	if (req->size == 0)
		return ERR_PTR(-EINVAL);
	if (req->size > rams_max_segment_bytes || rounded < req->size)
		return ERR_PTR(-EFBIG);
	u = rams_user_get(current_fsuid());
	ns = u ? rams_ns_get(rams_current_ipc_ns()) : NULL;
	ret = ns ? rams_limits_check(u, rounded) : -ENOMEM;
	seg = ret ? ERR_PTR(ret) : rams_segment_alloc(req, rounded);
	if (IS_ERR(seg)) {
		if (ns)
			rams_ns_put_unused(ns);
		if (u)
			rams_user_put_unused(u);
		return seg;
	}
	seg->user = u;
	seg->ns = ns;
	ns->segments++;

	/* A segment pins the module: rmmod must not drop data still in use. */
	__module_get(THIS_MODULE);
	list_add_tail(&seg->registry_node, &rams_registry);
	u->segments++;
	u->bytes += rounded;
	rams_nsegments++;
	rams_alive_bytes += rounded;
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

	*created = false;
	if (req->flags & RAMS_ATTACH_CREATE)
		rams_sweep_dead_namespaces();
	if (mutex_lock_killable(&rams_registry_mu))
		return -EINTR;
	seg = rams_registry_find(req->name);
	if (seg) {
		if ((req->flags & RAMS_ATTACH_CREATE) && (req->flags & RAMS_ATTACH_EXCL))
			ret = -EEXIST;
		else if (req->size != 0 && req->size != seg->size)
			ret = -EINVAL;
		else
			ret = rams_segment_permit(seg, write, true);
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

/* Called with rams_registry_mu held (kref_put_mutex); drops it. */
static void rams_segment_free(struct kref *ref)
	__releases(&rams_registry_mu)
{
	struct rams_segment *seg = container_of(ref, struct rams_segment, ref);
	u64 bytes = seg->npages << PAGE_SHIFT;

	rams_user_release(seg->user, bytes);
	seg->ns->segments--;
	rams_ns_put_unused(seg->ns);
	rams_nsegments--;
	rams_alive_bytes -= bytes;
	list_del_init(&seg->registry_node); /* a remote segment's (local ones are unlinked) */
	mutex_unlock(&rams_registry_mu);

	if (seg->remote)
		rams_remote_free_segment(seg);

	WARN_ON(!list_empty(&seg->leases));
	WARN_ON(!list_empty(&seg->lock_waiters));
	atomic64_sub(atomic64_read(&seg->pages_allocated), &rams_counters.pages);
	/* The pages go with the file's last reference (shmem yields as it frees them). */
	fput(seg->shm);
	atomic64_sub(bytes, &rams_counters.reserved_bytes);
	atomic64_dec(&rams_counters.segments);
	kfree(seg);
	/* Callers hold an open file of the module, so its code stays. */
	module_put(THIS_MODULE);
}

void rams_segment_put(struct rams_segment *seg)
{
	kref_put_mutex(&seg->ref, rams_segment_free, &rams_registry_mu);
}

/*
 * A handle leaves `seg`, dropping its reference. The last handle of a
 * remote segment takes its name away (a later ATTACH opens it afresh) and
 * lets ramsd hand the pages back.
 */
void rams_segment_detach(struct rams_segment *seg)
{
	if (atomic_dec_and_test(&seg->attached) && seg->remote) {
		mutex_lock(&rams_registry_mu);
		list_del_init(&seg->registry_node);
		mutex_unlock(&rams_registry_mu);
		rams_remote_last_detach(seg);
	}
	rams_segment_put(seg);
}

static DEFINE_MUTEX(rams_remote_attach_mu);

/* A live remote segment of this IPC namespace named `name`, with an attachment, or NULL. */
static struct rams_segment *rams_remote_find_attach(const char *name)
{
	struct ipc_namespace *ns = rams_current_ipc_ns();
	struct rams_segment *seg;

	lockdep_assert_held(&rams_registry_mu);
	list_for_each_entry(seg, &rams_registry, registry_node) {
		if (!seg->remote || seg->ns->ipc_ns != ns || strcmp(seg->name, name) ||
		    rams_remote_dead(seg))
			continue;
		if (!atomic_inc_not_zero(&seg->attached))
			continue; /* its last handle is leaving */
		kref_get(&seg->ref);
		return seg;
	}
	return NULL;
}

/*
 * ATTACH of a remote name: the host's existing copy, or a new remote
 * segment opened through ramsd (one such open at a time, so two attachers
 * never make two copies). mode (0: 0600) guards it for this host's users
 * like a local segment's. REQUIRES: flags have RAMS_ATTACH_REMOTE and
 * neither CREATE nor EXCL.
 */
int rams_segment_attach_remote(const struct rams_attach *req, struct rams_segment **out,
			       bool *created)
{
	bool write = !(req->flags & RAMS_ATTACH_RDONLY);
	struct rams_attach creq = *req;
	struct rams_segment *seg;
	bool ro_export;
	u64 size, id;
	int ret;

	*created = false;
	if (PAGE_SIZE != RAMS_REMOTE_PAGE_BYTES)
		return -EOPNOTSUPP;
	ret = rams_remote_validate_name(req->name);
	if (ret)
		return ret;
	if (mutex_lock_killable(&rams_remote_attach_mu))
		return -EINTR;
	ret = mutex_lock_killable(&rams_registry_mu) ? -EINTR : 0;
	if (ret)
		goto out_attach_mu;
	seg = rams_remote_find_attach(req->name);
	if (seg) {
		if (req->size != 0 && req->size != seg->size)
			ret = -EINVAL;
		else if (write && rams_remote_readonly(seg))
			ret = -EROFS;
		else
			ret = rams_segment_permit(seg, write, true);
		mutex_unlock(&rams_registry_mu);
		if (ret)
			rams_segment_detach(seg);
		else
			*out = seg;
		goto out_attach_mu;
	}
	mutex_unlock(&rams_registry_mu);

	ret = rams_remote_open(req->name, !write, &size, &ro_export, &id);
	if (ret)
		goto out_attach_mu;
	if ((req->size != 0 && req->size != size) || (write && ro_export)) {
		ret = req->size != 0 && req->size != size ? -EINVAL : -EROFS;
		goto out_forget;
	}
	creq.size = size;
	creq.mode = req->mode ? req->mode : 0600;
	if (mutex_lock_killable(&rams_registry_mu)) {
		ret = -EINTR;
		goto out_forget;
	}
	seg = rams_segment_create(&creq); /* its first reference is the handle's */
	if (IS_ERR(seg)) {
		mutex_unlock(&rams_registry_mu);
		ret = PTR_ERR(seg);
		goto out_forget;
	}
	atomic_set(&seg->attached, 1);
	mutex_unlock(&rams_registry_mu);
	ret = rams_remote_init_segment(seg, id, ro_export); /* tells ramsd itself on failure */
	if (ret) {
		/* Not remote yet: dropped like a local segment that was never named. */
		mutex_lock(&rams_registry_mu);
		list_del_init(&seg->registry_node);
		mutex_unlock(&rams_registry_mu);
		atomic_dec(&seg->attached);
		rams_segment_put(seg);
		goto out_attach_mu;
	}
	*created = true;
	*out = seg;
	goto out_attach_mu;

out_forget:
	rams_remote_forget(id);
out_attach_mu:
	mutex_unlock(&rams_remote_attach_mu);
	return ret;
}

/* Drops the name of `seg` if it still has it (undo of a create); not a permission check. */
void rams_segment_unlink(struct rams_segment *seg)
{
	bool named;

	mutex_lock(&rams_registry_mu);
	named = !list_empty(&seg->registry_node);
	list_del_init(&seg->registry_node);
	mutex_unlock(&rams_registry_mu);
	if (named)
		rams_segment_put(seg);
}

/* Drops the name; the segment lives on (and counts) while handles are attached. */
int rams_segment_remove(const char *name)
{
	struct rams_segment *seg;
	int ret;

	ret = rams_validate_name(name);
	if (ret)
		return ret;
	if (mutex_lock_killable(&rams_registry_mu))
		return -EINTR;
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
	mutex_unlock(&rams_registry_mu);
	rams_segment_put(seg);
	return 0;
out_unlock:
	mutex_unlock(&rams_registry_mu);
	return ret;
}

void rams_segment_fill_info(struct rams_segment *seg, struct rams_info *info)
{
	rams_segment_sync_pages(seg);
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
	if (seg->remote)
		rams_remote_fill_info(seg, info);
}

/* Visible segments: fills up to `room` of `out`, returns how many there are. */
static u32 rams_registry_snapshot(struct rams_info *out, u32 room)
{
	struct rams_segment *seg;
	u32 n = 0;

	lockdep_assert_held(&rams_registry_mu);
	list_for_each_entry(seg, &rams_registry, registry_node) {
		if (!rams_segment_visible(seg))
			continue;
		if (n < room)
			rams_segment_fill_info(seg, &out[n]);
		n++;
	}
	return n;
}

/*
 * Snapshot under the registry lock into kernel memory, copy out after it is
 * dropped: a slowly faulting user buffer stalls nobody but its owner.
 */
int rams_segment_list(struct rams_info __user *entries, u32 capacity, u32 *count)
{
	struct rams_info *snap = NULL;
	u32 room = 0, n;
	int ret = 0;

	for (;;) {
		if (mutex_lock_killable(&rams_registry_mu)) {
			ret = -EINTR;
			break;
		}
		n = rams_registry_snapshot(snap, room);
		mutex_unlock(&rams_registry_mu);
		if (min(n, capacity) <= room)
			break;
		/* More than we made room for: grow (bounded by the segment limit) and retry. */
		kvfree(snap);
		room = min(n, capacity);
		snap = kvmalloc_array(room, sizeof(*snap), GFP_KERNEL_ACCOUNT);
		if (!snap) {
			ret = -ENOMEM;
			break;
		}
	}
	if (!ret && n && copy_to_user(entries, snap, (size_t)min(n, capacity) * sizeof(*snap)))
		ret = -EFAULT;
	kvfree(snap);
	*count = n;
	return ret;
}

/* One line per visible named segment, then one line per lease it holds. */
int rams_registry_show(struct seq_file *m)
{
	struct rams_segment *seg;
	struct rams_lease *lease;
	struct rams_info info;

	/* Output goes to the seq_file's kernel buffer, not to user memory. */
	if (mutex_lock_killable(&rams_registry_mu))
		return -EINTR;
	list_for_each_entry(seg, &rams_registry, registry_node) {
		if (!rams_segment_visible(seg))
			continue;
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

/* Brings rams_counters.pages and the segment's count up to shmem's (resident or swapped). */
void rams_segment_sync_pages(struct rams_segment *seg)
{
	s64 now = READ_ONCE(SHMEM_I(file_inode(seg->shm))->alloced);
	s64 old = atomic64_xchg(&seg->pages_allocated, now);

	if (now != old)
		atomic64_add(now - old, &rams_counters.pages);
}

/*
 * The page at `idx` with a reference the caller drops (put_page), read in
 * from swap if needed; allocated zeroed on first use when `alloc`, charged to
 * the memory cgroup of the current task (shmem's rule). NULL for a hole when
 * !alloc; ERR_PTR on failure. REQUIRES: idx < seg->npages.
 */
struct page *rams_segment_page(struct rams_segment *seg, pgoff_t idx, bool alloc)
{
	struct address_space *mapping = seg->shm->f_mapping;
	struct page *page;

	if (!alloc && !xa_load(&mapping->i_pages, idx))
		return NULL; /* a hole (a swapped-out page is a value entry, not NULL) */
	page = shmem_read_mapping_page_gfp(mapping, idx, mapping_gfp_mask(mapping));
	if (alloc && !IS_ERR(page))
		rams_segment_sync_pages(seg);
	return page;
}

/* Whether `page` (NULL: a hole) is what the segment holds at `idx` now; never sleeps. */
bool rams_segment_page_current(struct rams_segment *seg, pgoff_t idx, struct page *page)
{
	void *entry = xa_load(&seg->shm->f_mapping->i_pages, idx);

	return page ? entry == page_folio(page) : entry == NULL;
}
