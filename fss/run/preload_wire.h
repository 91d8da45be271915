/* SPDX-License-Identifier: MIT */
/* The messages of fss run's preload channel (docs/fss.md, "The preload fast
 * path"): a program's process, through libfss-preload.so, asks the
 * supervisor to perform a call for it, on a SOCK_SEQPACKET connection to the
 * abstract Unix address named by $FSS_RUN_SOCKET. One request, one reply;
 * a descriptor the call opened comes with the reply (SCM_RIGHTS).
 *
 * The request carries the call's arguments as the kernel would see them:
 * pointers into the caller's memory, which the supervisor reads itself
 * (process_vm_readv) once, exactly as for a seccomp notification. Nothing in
 * a request is trusted: a message of another size, magic or call number
 * ends the connection, and the caller is the process the kernel says is at
 * the other end (SO_PEERCRED), never one the request names. Used by C (the
 * preload library) and C++ (the supervisor). */
#ifndef RAMS_FSS_RUN_PRELOAD_WIRE_H_
#define RAMS_FSS_RUN_PRELOAD_WIRE_H_

#include <stdint.h>
#include <sys/syscall.h>

#define FSS_PRELOAD_SOCKET_ENV "FSS_RUN_SOCKET"
#define FSS_PRELOAD_MAGIC 0x31525346u /* "FSR1" */
/* The longest abstract name, without its leading NUL. */
#define FSS_PRELOAD_NAME_MAX 100

struct fss_preload_request {
  uint32_t magic;
  int32_t nr;       /* the system call: SYS_openat, SYS_unlinkat or SYS_utimensat */
  uint64_t args[6]; /* its arguments, as the kernel takes them */
};

enum fss_preload_kind {
  FSS_PRELOAD_VALUE = 0,    /* value: the result (0 but for an open), or -errno */
  FSS_PRELOAD_FD = 1,       /* the descriptor comes with the reply (value 0) */
  FSS_PRELOAD_FALLBACK = 2, /* not performed: make the system call itself */
};

struct fss_preload_reply {
  uint32_t magic;
  uint32_t kind;
  int64_t value;
};

/* The supervisor's check of a message received into private memory, `len`
 * its length as the socket reported it (MSG_TRUNC: longer ones too): 1 for a
 * request it serves (exactly this size, the magic, one of the system calls
 * above), else 0, and the connection ends. The arguments are the call's,
 * checked as the kernel would check them when it is performed. */
static inline int fss_preload_request_ok(const struct fss_preload_request* q, long len) {
  return len == (long)sizeof(*q) && q->magic == FSS_PRELOAD_MAGIC &&
         (q->nr == SYS_openat || q->nr == SYS_unlinkat || q->nr == SYS_utimensat);
}

#endif /* RAMS_FSS_RUN_PRELOAD_WIRE_H_ */
