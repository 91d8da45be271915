/* SPDX-License-Identifier: MIT */
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

#include "rams/export.h"
RAMS_API_BEGIN

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

/* ---- Remote segments (ramsd) ---------------------------------------------
 * A session with a ramsd on another (or this) host; see docs/protocol.md.
 * rams_remote_open hands out an ordinary rams_segment: rams_segment_read,
 * _write, _lock, _unlock, _lock_held, _wait, _wake and _describe work on it,
 * and rams_segment_map maps it through the host's pager (docs/host-pager.md;
 * -ENOTSUP when no pager listens). A lost connection makes every call
 * fail (-ECONNRESET, -ENOTCONN), never hang; reconnect with a new session.
 * Segments stay usable after their session is closed, until they fail. */
typedef struct rams_remote rams_remote; /* opaque: one connection */

/* `key`: the pre-shared key (NUL-terminated, 16..256 bytes), or NULL when the
 * server has none (loopback only). timeout_ms <= 0: 30 s. */
int rams_remote_connect(const char* host, uint16_t port, const char* key, int64_t timeout_ms,
                        rams_remote** out);
void rams_remote_close(rams_remote* remote);
/* One round trip. */
int rams_remote_ping(rams_remote* remote);
/* Opens an exported segment; -ENOENT when not exported, -EROFS when a
 * read-write open meets a read-only export. */
int rams_remote_open(rams_remote* remote, const char* name, int read_only, rams_segment** out);
/* Atomic on the aligned 8-byte word at `offset` of a remote segment (also
 * with respect to local atomics on its home host); -ENOTSUP for a local one.
 * Both store the previous value; the CAS stored `desired` iff it equals
 * `expected`. */
int rams_remote_cas(rams_segment* seg, uint64_t offset, uint64_t expected, uint64_t desired,
                    uint64_t* previous);
int rams_remote_fetch_add(rams_segment* seg, uint64_t offset, uint64_t addend,
                          uint64_t* previous);
/* Sync objects at `offset` of a remote segment, initialized (rams_mutex_init
 * etc.) by a process on its home host; ramsd runs each call on the real
 * object, so home-host processes and remote sessions share it. The owner
 * (of a mutex, or the barrier member) is the SESSION, not the calling thread;
 * when the session ends its locks count as a dead owner's (RAMS_OWNER_DIED
 * for the next locker). Results as for the local calls below; plus -EPERM
 * (unlock or cond wait without holding the mutex), -EINVAL (no such object
 * there), -EROFS (read-only handle), -ENOTSUP for a local segment. See
 * docs/sync.md, "Across hosts". */
int rams_remote_mutex_lock(rams_segment* seg, uint64_t offset, int64_t timeout_ns);
int rams_remote_mutex_trylock(rams_segment* seg, uint64_t offset);
int rams_remote_mutex_unlock(rams_segment* seg, uint64_t offset);
int rams_remote_mutex_consistent(rams_segment* seg, uint64_t offset);
/* May return 0 spuriously after about a second; loop on the predicate. */
int rams_remote_cond_wait(rams_segment* seg, uint64_t cond_offset, uint64_t mutex_offset,
                          int64_t timeout_ns);
int rams_remote_cond_signal(rams_segment* seg, uint64_t offset);
int rams_remote_cond_broadcast(rams_segment* seg, uint64_t offset);
int rams_remote_barrier_join(rams_segment* seg, uint64_t offset);
int rams_remote_barrier_wait(rams_segment* seg, uint64_t offset, int64_t timeout_ns);
int rams_remote_barrier_leave(rams_segment* seg, uint64_t offset);
/* A remote segment mapped with rams_segment_map (through the host pager,
 * docs/host-pager.md): what became of it since the last call or the map.
 * -EOWNERDEAD once after pages of it were lost with a host that held them
 * exclusively (they went back to the home's last version); the session's
 * error (-ENOTCONN, -ECONNRESET, -ESTALE, ...) once this host's copy is lost
 * (every access to the mapping is SIGBUS then); -EINVAL when not mapped;
 * -ENOTSUP for a local segment. rams_remote_flush_mapping first writes this
 * host's dirty pages back to the home (what msync(2) does not reach). */
int rams_remote_mapping_status(rams_segment* seg);
int rams_remote_flush_mapping(rams_segment* seg);
/* ---- end of remote segments ---------------------------------------------- */

/* Describes the calling thread's last failure ("" when none). */
const char* rams_last_error(void);

/* ------------------------------------------------------------------------
 * Synchronization: robust process-shared primitives that live in shared
 * memory (a mapped segment, or any MAP_SHARED memory). Declare them inside
 * your shared struct, initialize each once with its *_init before other
 * processes use it, never copy one that is in use. See docs/sync.md.
 *
 * Acquiring calls return a negative errno when they did NOT acquire, else 0
 * or a combination of these flags (the object IS held):
 *   RAMS_OWNER_DIED   a holder died holding it; the protected state may be
 *                     inconsistent (mutex: repair, then rams_mutex_consistent
 *                     before unlocking, or it becomes not recoverable:
 *                     -ENOTRECOVERABLE for everyone; rwlock: the writer
 *                     that is told repairs before unlocking)
 *   RAMS_READER_DIED  rwlock: a reader died holding it (state intact)
 *   RAMS_TIMED_OUT    rams_cond_wait: the timeout passed (mutex re-acquired)
 * Timeouts are in nanoseconds: 0 = do not wait, RAMS_FOREVER = no limit
 * (INT64_MAX saturates: about forever).
 * Owners are threads; use an object only from one PID namespace (-EXDEV).
 * Nothing here aborts on what it finds in the object: memory a peer writes
 * gives negative errno values. *_init returns a negative errno (e.g. -EMFILE)
 * when the caller's PID namespace cannot be determined now; any call may
 * fail the same way when the caller's identity cannot be read now.
 * ------------------------------------------------------------------------ */

#define RAMS_OWNER_DIED 0x1
#define RAMS_READER_DIED 0x2
#define RAMS_TIMED_OUT 0x4

/* Opaque storage of the C++ objects (mutex.h, condvar.h, rwlock.h,
 * semaphore.h, barrier.h): same size and alignment. */
typedef struct rams_mutex { uint64_t opaque_[4]; } rams_mutex;
typedef struct rams_cond { uint64_t opaque_[4]; } rams_cond;
typedef struct rams_rwlock { uint64_t opaque_[38]; } rams_rwlock;
typedef struct rams_sem { uint64_t opaque_[4]; } rams_sem;
typedef struct rams_barrier { uint64_t opaque_[38]; } rams_barrier;

int rams_mutex_init(rams_mutex* m);
/* 0 or RAMS_OWNER_DIED; -ETIMEDOUT, -ENOTRECOVERABLE, -EDEADLK, -EXDEV. */
int rams_mutex_lock(rams_mutex* m, int64_t timeout_ns);
/* As rams_mutex_lock; -EBUSY when a live thread holds it. */
int rams_mutex_trylock(rams_mutex* m);
/* 0; -EPERM when the calling thread does not hold it (never aborts: on memory
 * a peer can write, that may be the peer's doing). */
int rams_mutex_unlock(rams_mutex* m);
/* After RAMS_OWNER_DIED: the state is repaired. 0; -EINVAL unless the
 * calling thread holds it after an owner death. */
int rams_mutex_consistent(rams_mutex* m);

int rams_cond_init(rams_cond* c);
/* Releases m, waits for a signal (or spuriously), re-acquires m without a
 * time limit. 0, RAMS_TIMED_OUT and/or RAMS_OWNER_DIED (m held); negative:
 * m is NOT held. */
int rams_cond_wait(rams_cond* c, rams_mutex* m, int64_t timeout_ns);
/* (-EPERM: the calling thread did not hold m.) */
void rams_cond_signal(rams_cond* c);
void rams_cond_broadcast(rams_cond* c);

int rams_rwlock_init(rams_rwlock* rw);
/* 0, RAMS_OWNER_DIED or RAMS_READER_DIED; -ETIMEDOUT, -EBUSY (timeout 0),
 * -EDEADLK, -EXDEV. */
int rams_rwlock_rdlock(rams_rwlock* rw, int64_t timeout_ns);
int rams_rwlock_wrlock(rams_rwlock* rw, int64_t timeout_ns);
/* 0; -EPERM when the calling thread does not hold it (shared / exclusively). */
int rams_rwlock_rdunlock(rams_rwlock* rw);
int rams_rwlock_wrunlock(rams_rwlock* rw);

int rams_sem_init(rams_sem* s, uint32_t initial);
/* 0; -ETIMEDOUT, or -EAGAIN with timeout 0. */
int rams_sem_wait(rams_sem* s, int64_t timeout_ns);
/* 0; -EOVERFLOW at 2^31 - 1. */
int rams_sem_post(rams_sem* s);
uint32_t rams_sem_value(const rams_sem* s);

/* parties: 1..64. */
int rams_barrier_init(rams_barrier* b, uint32_t parties);
/* Registers the calling thread as a member (do it before the first round).
 * -EBUSY when full. */
int rams_barrier_join(rams_barrier* b);
void rams_barrier_leave(rams_barrier* b);
/* 1 for the last arrival of a generation, 0 for the others; -EPIPE when
 * broken (a member died or timed out), -ETIMEDOUT (the caller timed out; it
 * is broken now). */
int rams_barrier_wait(rams_barrier* b, int64_t timeout_ns);
/* Repairs a broken barrier. Nobody may be inside rams_barrier_wait. */
void rams_barrier_reset(rams_barrier* b);

#ifdef __cplusplus
}
#endif

RAMS_API_END

#endif /* RAMS_RAMS_H_ */
