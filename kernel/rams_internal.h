/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * rams.ko internals: the objects of the module and the functions between its
 * files. A segment is a named, fixed-size array of lazily allocated pages,
 * backed by a shmem file (so its pages are swappable and charged to the
 * memory cgroup of the task that faults them in), found through the registry
 * of its IPC namespace; a handle is one open of /dev/rams, attached to at
 * most one segment; a lease is a range lock held by a handle.
 *
 * Thread safety and lifetime:
 *  1. rams_registry_mu guards the registry ((IPC namespace, name) -> segment)
 *     and the limits accounting (module-wide and per uid). It is never held
 *     across a copy to or from user memory, nor while waiting for anything a
 *     user controls; user-reachable paths take it killably.
 *  2. A segment is freed when its kref drops to zero: the registry's reference
 *     is dropped by REMOVE, each attached handle holds one. Anything that can
 *     sleep on a segment holds a handle, and thereby a reference. A segment
 *     counts against the limits until it is freed, not until REMOVE.
 *  3. seg->rw orders data access: read() takes it shared, write() exclusive,
 *     LOCK grants shared (so a grant is ordered after in-flight writes). The
 *     page fault handler never takes it, so copying from or to a mapping of
 *     a segment while holding it cannot deadlock. Every wait for it is
 *     killable; a non-blocking LOCK only tries it.
 *  4. seg->lock_mu guards the lease list and the lock waiters; it nests
 *     inside seg->rw and is never held across a user copy.
 *  5. Pages live in the page cache of seg->shm (shmem's own locking); the
 *     file lives as long as the segment. A mapping's VMA points at seg->shm
 *     (so reclaim and zapping find it through shmem's rmap) and holds a
 *     reference to the /dev/rams file it was made from (vm_private_data),
 *     hence to the handle, the segment and the module.
 *  6. h->seg is written once (under h->attach_mu) with release semantics and
 *     read with acquire; it does not change until the handle is released.
 *  7. Remote-backed segments (rams_remote.c): rams_ctl_mu guards the control
 *     channel (its request queues, the id -> segment table) and each remote
 *     segment's table of pending requests. It nests inside rams_registry_mu,
 *     is never held across a user copy or a wait, and nothing holding it
 *     takes rams_registry_mu or drops a segment reference. A remote page's
 *     state changes only under its page lock (the shmem page's), which the
 *     fault path holds from its check until the PTE is installed; nothing
 *     waits for the channel while holding a page lock or mmap_lock.
 */
#ifndef RAMS_INTERNAL_H
#define RAMS_INTERNAL_H

#include <linux/fs.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mm_types.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/wait.h>

#include "uapi/rams.h"

/* Module parameters (rams_main.c). */
extern unsigned long rams_max_segment_bytes;
extern unsigned long rams_max_total_bytes;
extern unsigned int rams_max_segments;
extern unsigned long rams_max_user_bytes;
extern unsigned int rams_max_user_segments;

/* Most leases one handle may hold at once. */
#define RAMS_MAX_LEASES_PER_HANDLE 128

/* Module-wide counters; they must all be zero at module exit. */
struct rams_counters {
	atomic64_t segments;
	atomic64_t reserved_bytes;
	atomic64_t pages;
	atomic64_t handles;
	atomic64_t leases;
	atomic64_t waiters;
	atomic64_t remote_requests;
};
extern struct rams_counters rams_counters;

struct rams_user;
struct rams_ns;
struct rams_remote;

struct rams_segment {
	struct kref ref;
	struct list_head registry_node; /* under rams_registry_mu; empty when removed */
	struct rams_ns *ns;            /* the IPC namespace its name lives in */
	struct rams_user *user;        /* the creator's accounting, under rams_registry_mu */
	struct file *shm;              /* the shmem file holding the pages */
	char name[RAMS_NAME_BYTES];
	u64 size;
	u64 npages;
	kuid_t uid;
	kgid_t gid;
	umode_t mode;
	s64 created_ns;
	atomic_t attached;
	atomic64_t pages_allocated;    /* as last added to rams_counters.pages */

	struct rw_semaphore rw;        /* invariant 3 */

	struct mutex lock_mu;          /* invariant 4 */
	struct list_head leases;       /* struct rams_lease, under lock_mu */
	struct list_head lock_waiters; /* struct rams_lock_waiter, under lock_mu */
	u64 next_lock_id;              /* under lock_mu */
	u32 nleases;                   /* under lock_mu */
	wait_queue_head_t lock_wq;     /* woken when a lease ends */

	atomic64_t write_seq;          /* bumped by every write(); for poll */
	wait_queue_head_t poll_wq;

	struct rams_remote *remote;    /* set once at creation: a remote-backed segment */
};

struct rams_handle {
	struct mutex attach_mu;
	bool control;                  /* the control handle (under rams_ctl_mu) */
	struct rams_segment *seg;      /* invariant 6 */
	bool writable;
	bool write_wait;
	u32 nleases;                   /* under seg->lock_mu */
	u64 read_seq;                  /* write_seq seen by the last read(); for poll */
	u64 remote_id;                 /* a remote segment's handle: its id on the control
					* channel once a call named it, else 0 (under rams_ctl_mu) */
};

struct rams_lease {
	struct list_head node;
	struct rams_handle *owner;
	u64 id;
	u64 offset;
	u64 len;
	u32 writes_left;               /* 0: until UNLOCK */
};

struct rams_lock_waiter {
	struct list_head node;
	u64 offset;
	u64 len;
	bool holder_gone;
};

/* rams_segment.c */
int rams_segment_attach(const struct rams_attach *req, struct rams_segment **out,
			bool *created);
int rams_segment_attach_remote(const struct rams_attach *req, struct rams_segment **out,
			       bool *created);
void rams_segment_put(struct rams_segment *seg);
void rams_segment_detach(struct rams_segment *seg);
int rams_segment_remove(const char *name);
void rams_segment_unlink(struct rams_segment *seg);
int rams_segment_list(struct rams_info __user *entries, u32 capacity, u32 *count);
void rams_segment_fill_info(struct rams_segment *seg, struct rams_info *info);
int rams_validate_name(const char *name);
struct page *rams_segment_page(struct rams_segment *seg, pgoff_t idx, bool alloc);
void rams_segment_sync_pages(struct rams_segment *seg);
bool rams_segment_page_current(struct rams_segment *seg, pgoff_t idx, struct page *page);
int rams_registry_show(struct seq_file *m);
void rams_limits_init(void);

/* rams_io.c: file operations on data. */
ssize_t rams_read_iter(struct kiocb *iocb, struct iov_iter *to);
ssize_t rams_write_iter(struct kiocb *iocb, struct iov_iter *from);
loff_t rams_llseek(struct file *file, loff_t off, int whence);
__poll_t rams_poll(struct file *file, struct poll_table_struct *wait);

/* rams_mmap.c */
int rams_mmap(struct file *file, struct vm_area_struct *vma);

/* rams_lock.c */
int rams_lock(struct rams_handle *h, struct rams_lock *req);
int rams_unlock(struct rams_handle *h, u64 id);
int rams_locked(struct rams_handle *h, u64 id);
int rams_lease_check_write(struct rams_handle *h, u64 offset, u64 len);
void rams_lease_account_write(struct rams_handle *h, u64 offset, u64 len);
void rams_lease_drop_all(struct rams_handle *h);

/* rams_wait.c */
int rams_wait(struct rams_handle *h, const struct rams_wait *req);
int rams_wake(struct rams_handle *h, const struct rams_wake *req);
void rams_wait_init(void);
int rams_restart_error(bool timed);

/* rams_remote.c: remote-backed segments and the control channel. */
int rams_remote_validate_name(const char *name);
int rams_remote_open(const char *name, bool rdonly, u64 *size, bool *ro_export, u64 *id);
int rams_remote_init_segment(struct rams_segment *seg, u64 id, bool ro_export);
void rams_remote_fill_info(struct rams_segment *seg, struct rams_info *info);
void rams_remote_free_segment(struct rams_segment *seg);
void rams_remote_forget(u64 id);
void rams_remote_last_detach(struct rams_segment *seg);
bool rams_remote_dead(struct rams_segment *seg);
bool rams_remote_readonly(struct rams_segment *seg);
ssize_t rams_remote_copy_out(struct rams_segment *seg, struct iov_iter *to, u64 pos, size_t len);
ssize_t rams_remote_write(struct rams_handle *h, struct rams_segment *seg, struct iov_iter *from,
			  u64 pos, size_t len, bool nowait);
int rams_remote_lock(struct rams_handle *h, struct rams_segment *seg, struct rams_lock *lock);
int rams_remote_unlock(struct rams_handle *h, struct rams_segment *seg, u64 id, bool query);
int rams_remote_wait(struct rams_handle *h, struct rams_segment *seg, const struct rams_wait *wait);
int rams_remote_wake(struct rams_handle *h, struct rams_segment *seg, const struct rams_wake *wake);
void rams_remote_handle_release(struct rams_handle *h, struct rams_segment *seg);
vm_fault_t rams_remote_fault(struct vm_fault *vmf, struct rams_segment *seg);
vm_fault_t rams_remote_page_mkwrite(struct vm_fault *vmf, struct rams_segment *seg);
long rams_ctl_ioctl(struct rams_handle *h, unsigned int cmd, void __user *arg, bool nonblock);
int rams_ctl_become(struct rams_handle *h);
void rams_ctl_release(struct rams_handle *h);
__poll_t rams_ctl_poll(struct file *file, struct poll_table_struct *wait);

/* rams_ioctl.c */
long rams_ioctl(struct file *file, unsigned int cmd, unsigned long arg);


static inline struct rams_segment *rams_handle_segment(struct rams_handle *h)
{
	/* Pairs with smp_store_release() in rams_ioctl_attach(). */
	return smp_load_acquire(&h->seg);
}

static inline bool rams_ranges_overlap(u64 a_off, u64 a_len, u64 b_off, u64 b_len)
{
	return a_off < b_off + b_len && b_off < a_off + a_len;
}

/* Whether [offset, offset+len) lies inside a segment of `size` bytes. */
static inline bool rams_range_inside(u64 offset, u64 len, u64 size)
{
	return offset <= size && len <= size - offset;
}

#endif /* RAMS_INTERNAL_H */
