/* rams.h: the plain C interface to librams. Segments: named shared memory
 * that processes attach to by name, read and write at an offset, map, lock in
 * byte ranges with write leases, and wait/wake on 32-bit words. The backend is
 * chosen as in C++ (RAMS_BACKEND=posix|kernel, else /dev/rams when present,
 * else POSIX shm).
 *
 * Every function returns 0 (or a count, where it says so) on success and a
 * negative errno value on failure; rams_last_error() then describes what was
 * attempted. Thread safety: as the C++ API; a rams_segment may be used by
 * several threads at once, but not closed while in use. */
#ifndef RAMS_RAMS_H_
#define RAMS_RAMS_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RAMS_NAME_MAX 63

typedef struct rams_segment rams_segment; /* opaque: one attachment */

/* Flags of rams_segment_open. */
#define RAMS_CREATE 0x1u /* create when missing */
#define RAMS_EXCL 0x2u   /* with RAMS_CREATE: fail with -EEXIST when it exists */

/* Timeout meaning "wait for ever" (any negative value does). */
#define RAMS_FOREVER (-1LL)

struct rams_segment_info {
  char name[RAMS_NAME_MAX + 1];
  char backend[16];
  uint64_t size_bytes;
  int64_t created_unix_ns;
  uint32_t owner_uid;
  uint32_t owner_gid;
  uint32_t mode;
  uint32_t locks_held;
};

/* Opens (or with RAMS_CREATE creates, `size_bytes` long, permissions `mode`)
 * the segment `name`. size_bytes 0 when opening means "any size". */
int rams_segment_open(const char* name, uint64_t size_bytes, uint32_t mode, unsigned flags,
                      rams_segment** out);
/* Detaches: releases the range locks it holds. NULL is fine. */
void rams_segment_close(rams_segment* seg);
int rams_segment_remove(const char* name);
int rams_segment_stat(const char* name, struct rams_segment_info* out);
int rams_segment_describe(rams_segment* seg, struct rams_segment_info* out);
/* Fills up to `cap` entries; returns the number of segments (may be > cap). */
int rams_segment_list(struct rams_segment_info* out, size_t cap);

/* The segment mapped shared; valid until rams_segment_close. */
int rams_segment_map(rams_segment* seg, void** addr, uint64_t* size_bytes);
int rams_segment_read(rams_segment* seg, uint64_t offset, void* buf, size_t len);
int rams_segment_write(rams_segment* seg, uint64_t offset, const void* buf, size_t len);

/* Exclusive lock of [offset, offset+len), released after `writes` writes by
 * this handle into it (0: until unlock). timeout_ns: 0 = do not wait,
 * RAMS_FOREVER = wait for ever. -EWOULDBLOCK / -ETIMEDOUT when held. */
int rams_segment_lock(rams_segment* seg, uint64_t offset, uint64_t len, uint32_t writes,
                      int64_t timeout_ns, uint64_t* lock_id);
int rams_segment_unlock(rams_segment* seg, uint64_t lock_id);
/* 1 while held, 0 once released (by unlock or its lease). */
int rams_segment_lock_held(rams_segment* seg, uint64_t lock_id);

/* Futex semantics on the aligned 32-bit word at `offset`. */
int rams_segment_wait(rams_segment* seg, uint64_t offset, uint32_t expected, int64_t timeout_ns);
/* Returns the number of waiters woken. */
int rams_segment_wake(rams_segment* seg, uint64_t offset, uint32_t count);

/* The same on a word addressed directly inside a mapping. */
int rams_wait_word(const uint32_t* word, uint32_t expected, int64_t timeout_ns);
int rams_wake_word(const uint32_t* word, uint32_t count);

/* Describes the calling thread's last failure ("" when none). */
const char* rams_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* RAMS_RAMS_H_ */
