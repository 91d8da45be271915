/* SPDX-License-Identifier: (GPL-2.0-only WITH Linux-syscall-note) OR MIT */
/*
 * The ABI of /dev/rams, the rams kernel module: every ioctl number, argument
 * layout and flag. This one header is included by the module and by librams
 * (C and C++). See docs/kernel-abi.md for the semantics and errors.
 *
 * Rules: fixed-width fields at natural alignment, identical on 32-bit and
 * 64-bit user space (so compat_ioctl needs no translation); every struct size
 * is a multiple of 8; reserved fields and unused flag bits must be zero or the
 * call fails with EINVAL. A changed layout gets a new ioctl number.
 *
 * Thread safety: plain data, no state.
 */
#ifndef _UAPI_RAMS_H
#define _UAPI_RAMS_H

#include <linux/ioctl.h>
#include <linux/types.h>
#ifdef __KERNEL__
#include <linux/stddef.h>
#else
#include <stddef.h>
#endif

#define RAMS_DEVICE_PATH "/dev/rams"
#define RAMS_ABI_VERSION 1

/* Segment names: 1..63 bytes of [A-Za-z0-9._-], not starting with '.', NUL-terminated. */
#define RAMS_NAME_BYTES 64

/* Features reported by RAMS_IOC_VERSION. */
#define RAMS_FEATURE_MMAP       (1ULL << 0)
#define RAMS_FEATURE_LOCK       (1ULL << 1)
#define RAMS_FEATURE_WAIT       (1ULL << 2)
#define RAMS_FEATURE_POLL       (1ULL << 3)
#define RAMS_FEATURE_LIST       (1ULL << 4)
#define RAMS_FEATURE_REMOTE     (1ULL << 5) /* RAMS_ATTACH_REMOTE and the control channel */
#define RAMS_FEATURE_REMOTE_OPS (1ULL << 6) /* LOCK, WAIT, WAKE at the home of remote handles */
#define RAMS_FEATURES_ALL \
	(RAMS_FEATURE_MMAP | RAMS_FEATURE_LOCK | RAMS_FEATURE_WAIT | \
	 RAMS_FEATURE_POLL | RAMS_FEATURE_LIST | RAMS_FEATURE_REMOTE | \
	 RAMS_FEATURE_REMOTE_OPS)

struct rams_version {
	__u32 abi_version;      /* out: RAMS_ABI_VERSION */
	__u32 reserved0;        /* out: zero */
	__u64 features;         /* out: RAMS_FEATURE_* */
	__u64 max_segment_bytes;/* out: module limits */
	__u64 max_total_bytes;
	__u32 max_segments;
	__u32 max_user_segments;/* out: per-uid limits (zero from modules before them) */
	__u64 max_user_bytes;
	__u64 reserved[1];
};

/* RAMS_IOC_ATTACH flags. */
#define RAMS_ATTACH_CREATE      (1U << 0) /* create when missing */
#define RAMS_ATTACH_EXCL        (1U << 1) /* with CREATE: EEXIST when present */
#define RAMS_ATTACH_RDONLY      (1U << 2) /* read-only handle */
#define RAMS_ATTACH_WRITE_WAIT  (1U << 3) /* write() waits for others' locks instead of EBUSY */
#define RAMS_ATTACH_REMOTE      (1U << 4) /* name is HOST:PORT/NAME, served through ramsd */
#define RAMS_ATTACH_FLAGS_ALL \
	(RAMS_ATTACH_CREATE | RAMS_ATTACH_EXCL | RAMS_ATTACH_RDONLY | RAMS_ATTACH_WRITE_WAIT | \
	 RAMS_ATTACH_REMOTE)

struct rams_attach {
	char name[RAMS_NAME_BYTES];
	__u64 size;             /* in: 0 or the size; out: the segment's size */
	__u32 mode;             /* in: permission bits (0777 mask) for creation */
	__u32 flags;            /* in: RAMS_ATTACH_* */
	__u32 created;          /* out: 1 when this call created the segment */
	__u32 reserved0;
	__u64 reserved[2];
};

/* rams_info.flags */
#define RAMS_INFO_REMOVED       (1U << 0) /* name already removed; alive while attached */
#define RAMS_INFO_REMOTE        (1U << 1) /* a remote-backed segment (RAMS_ATTACH_REMOTE) */
#define RAMS_INFO_DEAD          (1U << 2) /* remote: its ramsd is gone, every access fails */

struct rams_info {
	char name[RAMS_NAME_BYTES];
	__u64 size;
	__s64 created_ns;       /* CLOCK_REALTIME at creation */
	__u32 uid;
	__u32 gid;
	__u32 mode;
	__u32 flags;            /* RAMS_INFO_* */
	__u32 attached;         /* handles attached now */
	__u32 locks_held;       /* leases held now */
	__u64 pages;            /* pages allocated so far */
	__u64 reserved[4];
};

/* RAMS_IOC_LOCK flags (in). */
#define RAMS_LOCK_NONBLOCK      (1U << 0) /* EWOULDBLOCK instead of waiting */
#define RAMS_LOCK_TIMEOUT       (1U << 1) /* wait at most timeout_ns */
#define RAMS_LOCK_FLAGS_ALL     (RAMS_LOCK_NONBLOCK | RAMS_LOCK_TIMEOUT)
/* rams_lock.result (out). */
#define RAMS_LOCK_HOLDER_GONE   (1U << 0) /* a holder we waited for closed or died holding it */

struct rams_lock {
	__u64 offset;
	__u64 len;              /* > 0 */
	__u32 writes;           /* lease: released after this many writes; 0 = until UNLOCK */
	__u32 flags;            /* RAMS_LOCK_* */
	__s64 timeout_ns;       /* with RAMS_LOCK_TIMEOUT, >= 0 */
	__u64 id;               /* out: lock id, for UNLOCK */
	__u32 result;           /* out: RAMS_LOCK_HOLDER_GONE */
	__u32 reserved0;
	__u64 reserved[2];
};

struct rams_lock_ref {
	__u64 id;
	__u64 reserved;
};

/* RAMS_IOC_WAIT flags. */
#define RAMS_WAIT_TIMEOUT       (1U << 0) /* wait at most timeout_ns */
#define RAMS_WAIT_FLAGS_ALL     RAMS_WAIT_TIMEOUT

struct rams_wait {
	__u64 offset;           /* 4-byte aligned word inside the segment */
	__u32 expected;
	__u32 flags;
	__s64 timeout_ns;
	__u64 reserved;
};

struct rams_wake {
	__u64 offset;
	__u32 count;
	__u32 flags;            /* none defined: zero */
	__u64 reserved;
};

struct rams_remove {
	char name[RAMS_NAME_BYTES];
	__u64 reserved;
};

struct rams_list {
	__u64 entries;          /* in: user pointer to capacity struct rams_info */
	__u32 capacity;         /* in */
	__u32 count;            /* out: number of segments (may exceed capacity) */
	__u64 reserved[2];
};

/* Module-wide memory and object counters; all zero when nothing is in use. */
struct rams_stats {
	__u64 segments;         /* segments alive, named or still attached */
	__u64 reserved_bytes;   /* sizes reserved by alive segments (page-rounded) */
	__u64 pages;            /* pages allocated */
	__u64 handles;          /* open /dev/rams files */
	__u64 leases;           /* range locks held */
	__u64 waiters;          /* tasks in WAIT or blocked in LOCK */
	__u64 remote_requests;  /* control-channel requests queued or being answered */
	__u64 reserved[1];
};

/*
 * The control channel (docs/kernel-abi.md, "Remote segments"): one handle,
 * turned into the control handle by RAMS_IOC_CONTROL, on which the local
 * ramsd receives the module's requests for remote-backed segments and
 * answers them, and pushes the home's invalidations and downgrades.
 * Pages on the channel are RAMS_REMOTE_PAGE_BYTES whatever the kernel's
 * page size (remote segments need PAGE_SIZE == 4096: EOPNOTSUPP otherwise).
 */
#define RAMS_REMOTE_PAGE_BYTES  4096

/* rams_ctl_request.kind */
#define RAMS_CTL_ATTACH         1 /* open name at its home; answer: size, flags */
#define RAMS_CTL_READ           2 /* a copy of page; answer: data + grant */
#define RAMS_CTL_WRITE          3 /* page exclusively; answer: data (or none) + grant */
#define RAMS_CTL_RELEASE        4 /* the last handle left: hand dirty pages back, close */
/* Calls of one handle, performed at the home through that handle's own home handle: */
#define RAMS_CTL_LOCK           5 /* LOCK(op.offset, op.length, op.value writes); answer: value = id */
#define RAMS_CTL_UNLOCK         6 /* UNLOCK(op.lock_id) */
#define RAMS_CTL_LOCKED         7 /* LOCKED(op.lock_id); answer: value = 0 or 1 */
#define RAMS_CTL_WAIT           8 /* WAIT(op.offset, op.value expected) */
#define RAMS_CTL_WAKE           9 /* WAKE(op.offset, op.value count); answer: value = woken */
#define RAMS_CTL_STORE         10 /* a one-sided WRITE of op.length bytes (RAMS_IOC_CTL_DATA) at
				    * op.offset; answer: value = op.length */
#define RAMS_CTL_CLOSE         11 /* the handle was released: close its home handle (its locks end) */

/* rams_ctl_request.flags */
#define RAMS_CTL_RDONLY         (1U << 0) /* ATTACH: read-only handle asked; answer: read-only export */
#define RAMS_CTL_HAVE_COPY      (1U << 1) /* WRITE: the module holds a shared copy (an upgrade) */
#define RAMS_CTL_TIMED          (1U << 2) /* LOCK, WAIT: op.timeout_ns applies (0: do not wait) */

/* Most bytes of one RAMS_CTL_STORE (a longer write() is a short write). */
#define RAMS_CTL_STORE_MAX      (1U << 20)

struct rams_ctl_request {
	__u64 id;               /* out: for the answer */
	__u32 kind;             /* out: RAMS_CTL_ATTACH..RELEASE */
	__u32 flags;            /* out: RAMS_CTL_RDONLY, RAMS_CTL_HAVE_COPY */
	__u64 segment;          /* out: the module's id of the remote segment (ATTACH: the id
			         *      it will have when the answer succeeds) */
	__u64 page;             /* out: READ, WRITE: page index */
	union {
		char name[RAMS_NAME_BYTES]; /* out: ATTACH: HOST:PORT/NAME */
		struct {
			__u64 handle;   /* out: the module's id of the /dev/rams handle, never reused */
			__u64 offset;   /* out: LOCK, WAIT, WAKE, STORE */
			__u64 length;   /* out: LOCK: the range's; STORE: bytes */
			__s64 timeout_ns; /* out: LOCK, WAIT with RAMS_CTL_TIMED: >= 0; else 0 */
			__u64 lock_id;  /* out: UNLOCK, LOCKED */
			__u32 value;    /* out: LOCK: writes; WAIT: expected; WAKE: count */
			__u32 reserved0;
		} op;           /* LOCK..CLOSE */
	};
	__u64 reserved[2];
};

/* rams_ctl_answer.grant */
#define RAMS_CTL_GRANT_READ     1
#define RAMS_CTL_GRANT_WRITE    2

struct rams_ctl_answer {
	__u64 id;               /* in: a request received and not yet answered */
	__s32 status;           /* in: 0, or -errno (-133..-1) handed to the waiters */
	__u32 grant;            /* in: READ, WRITE with status 0: RAMS_CTL_GRANT_*; else 0 */
	__u64 data;             /* in: READ, WRITE: user pointer to the page, or 0 for an
			         *     upgrade that keeps the module's copy; else 0 */
	__u64 size;             /* in: ATTACH with status 0: the segment's size; else 0 */
	__u32 flags;            /* in: ATTACH: RAMS_CTL_RDONLY for a read-only export; else 0 */
	__u32 reserved0;
	__u64 value;            /* in: LOCK, LOCKED, WAKE, STORE with status 0 (see the kinds); else 0 */
	__u64 reserved[1];
};

/* RAMS_IOC_CTL_DATA: the bytes of a STORE request in flight. */
struct rams_ctl_data {
	__u64 id;               /* in: a STORE request received and not yet answered */
	__u64 data;             /* in: user pointer to `length` writable bytes */
	__u64 length;           /* in: the request's op.length */
	__u64 reserved;
};

/* rams_ctl_push.kind */
#define RAMS_CTL_INVALIDATE     1 /* drop the page from every local mapping */
#define RAMS_CTL_DOWNGRADE      2 /* make it read-only everywhere here */

struct rams_ctl_push {
	__u64 segment;          /* in: a live remote segment's id */
	__u64 page;             /* in: page index inside it */
	__u32 kind;             /* in: RAMS_CTL_INVALIDATE, RAMS_CTL_DOWNGRADE */
	__u32 dirty;            /* in: 0; out: 1 when the page was held exclusively and
			         *      its data was copied to `data` */
	__u64 data;             /* in: user pointer to RAMS_REMOTE_PAGE_BYTES bytes */
	__u64 reserved[2];
};

#define RAMS_IOC_MAGIC 0xB7

#define RAMS_IOC_VERSION _IOR(RAMS_IOC_MAGIC, 0x00, struct rams_version)
#define RAMS_IOC_ATTACH  _IOWR(RAMS_IOC_MAGIC, 0x01, struct rams_attach)
#define RAMS_IOC_INFO    _IOR(RAMS_IOC_MAGIC, 0x02, struct rams_info)
#define RAMS_IOC_LOCK    _IOWR(RAMS_IOC_MAGIC, 0x03, struct rams_lock)
#define RAMS_IOC_UNLOCK  _IOW(RAMS_IOC_MAGIC, 0x04, struct rams_lock_ref)
#define RAMS_IOC_LOCKED  _IOW(RAMS_IOC_MAGIC, 0x05, struct rams_lock_ref)
#define RAMS_IOC_WAIT    _IOW(RAMS_IOC_MAGIC, 0x06, struct rams_wait)
#define RAMS_IOC_WAKE    _IOW(RAMS_IOC_MAGIC, 0x07, struct rams_wake)
#define RAMS_IOC_REMOVE  _IOW(RAMS_IOC_MAGIC, 0x08, struct rams_remove)
#define RAMS_IOC_LIST    _IOWR(RAMS_IOC_MAGIC, 0x09, struct rams_list)
#define RAMS_IOC_STATS   _IOR(RAMS_IOC_MAGIC, 0x0A, struct rams_stats)
#define RAMS_IOC_CONTROL _IO(RAMS_IOC_MAGIC, 0x0B)
#define RAMS_IOC_CTL_RECV   _IOR(RAMS_IOC_MAGIC, 0x0C, struct rams_ctl_request)
#define RAMS_IOC_CTL_ANSWER _IOW(RAMS_IOC_MAGIC, 0x0D, struct rams_ctl_answer)
#define RAMS_IOC_CTL_PUSH   _IOWR(RAMS_IOC_MAGIC, 0x0E, struct rams_ctl_push)
#define RAMS_IOC_CTL_DATA   _IOW(RAMS_IOC_MAGIC, 0x0F, struct rams_ctl_data)

#ifdef __cplusplus
#define RAMS_ABI_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define RAMS_ABI_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif
RAMS_ABI_ASSERT(sizeof(struct rams_version) == 56, "rams_version layout");
RAMS_ABI_ASSERT(sizeof(struct rams_attach) == 104, "rams_attach layout");
RAMS_ABI_ASSERT(offsetof(struct rams_attach, size) == 64, "rams_attach.size");
RAMS_ABI_ASSERT(sizeof(struct rams_info) == 144, "rams_info layout");
RAMS_ABI_ASSERT(offsetof(struct rams_info, pages) == 104, "rams_info.pages");
RAMS_ABI_ASSERT(sizeof(struct rams_lock) == 64, "rams_lock layout");
RAMS_ABI_ASSERT(offsetof(struct rams_lock, timeout_ns) == 24, "rams_lock.timeout_ns");
RAMS_ABI_ASSERT(offsetof(struct rams_lock, id) == 32, "rams_lock.id");
RAMS_ABI_ASSERT(sizeof(struct rams_lock_ref) == 16, "rams_lock_ref layout");
RAMS_ABI_ASSERT(sizeof(struct rams_wait) == 32, "rams_wait layout");
RAMS_ABI_ASSERT(sizeof(struct rams_wake) == 24, "rams_wake layout");
RAMS_ABI_ASSERT(sizeof(struct rams_remove) == 72, "rams_remove layout");
RAMS_ABI_ASSERT(sizeof(struct rams_list) == 32, "rams_list layout");
RAMS_ABI_ASSERT(sizeof(struct rams_stats) == 64, "rams_stats layout");
RAMS_ABI_ASSERT(sizeof(struct rams_ctl_request) == 112, "rams_ctl_request layout");
RAMS_ABI_ASSERT(sizeof(struct rams_ctl_answer) == 56, "rams_ctl_answer layout");
RAMS_ABI_ASSERT(sizeof(struct rams_ctl_push) == 48, "rams_ctl_push layout");
RAMS_ABI_ASSERT(sizeof(struct rams_ctl_data) == 32, "rams_ctl_data layout");
RAMS_ABI_ASSERT(offsetof(struct rams_ctl_request, reserved) == 96, "rams_ctl_request.reserved");
RAMS_ABI_ASSERT(offsetof(struct rams_ctl_answer, value) == 40, "rams_ctl_answer.value");
#undef RAMS_ABI_ASSERT

#endif /* _UAPI_RAMS_H */
