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
#define RAMS_FEATURES_ALL \
	(RAMS_FEATURE_MMAP | RAMS_FEATURE_LOCK | RAMS_FEATURE_WAIT | \
	 RAMS_FEATURE_POLL | RAMS_FEATURE_LIST)

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
#define RAMS_ATTACH_FLAGS_ALL \
	(RAMS_ATTACH_CREATE | RAMS_ATTACH_EXCL | RAMS_ATTACH_RDONLY | RAMS_ATTACH_WRITE_WAIT)

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
#undef RAMS_ABI_ASSERT

#endif /* _UAPI_RAMS_H */
