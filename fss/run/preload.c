// SPDX-License-Identifier: MIT
// libfss-preload.so: fss run's fast path for dynamically linked programs
// (docs/fss.md, "The preload fast path"). fss run puts it in LD_PRELOAD; it
// takes the C library's open, open64, openat, openat64, creat, creat64 and
// their fortified forms, unlink, unlinkat, rmdir, utimensat and futimens.
// An open with write intent is sent to the supervisor over the preload
// channel (preload_wire.h), which saves, opens and passes the descriptor
// back (SCM_RIGHTS); so are the others, which it saves and performs. Every
// other call, and every case this library cannot handle, is the plain
// system call, which the seccomp filter still sends to the supervisor. So
// this is only a shortcut: nothing it does, or fails to do, lets a change
// past the supervisor.
//
// Why it is faster: the seccomp path wakes the sleeping caller to install a
// descriptor (SECCOMP_IOCTL_NOTIF_ADDFD), a wake-up on another CPU each
// time. Here the caller polls its socket for the reply for a while (where it
// may run on more than one CPU) and the supervisor polls for requests for a
// while after each, so a run of opens passes with no wake-up at all.
//
// One connection per process, taken on its first such open, kept at a high
// descriptor number (close-on-exec) and checked by its inode before each use,
// so a program that closes or reuses that number loses only the shortcut. A
// child made by fork() starts its own (pthread_atfork); one made otherwise
// (vfork, clone) does not use its parent's. Threads of a process take turns
// on the connection; a signal handler that opens while its thread is in the
// middle of a request makes the system call instead.
#undef _FORTIFY_SOURCE  // this file defines the functions fortify wraps
#undef _FILE_OFFSET_BITS
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "preload_wire.h"

#define EXPORT __attribute__((visibility("default")))

// glibc's __O_TMPFILE includes O_DIRECTORY: only its own bit is write intent.
#define WRITE_INTENT (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | (__O_TMPFILE & ~O_DIRECTORY))

enum {
  kSpinNs = 200000,  // how long a caller polls for its reply before sleeping
  kFdRoom = 24,      // the connection sits this far below min(limit, 1024)
};

static struct sockaddr_un g_addr;
static socklen_t g_addr_len;  // 0: no channel ($FSS_RUN_SOCKET unset)

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
// Under g_mu:
static int g_fd = -1;      // the connection
static dev_t g_dev;        // and its inode, to tell it from a descriptor the
static ino_t g_ino;        //   program put at that number since
static pid_t g_pid;        // the process that connected (0: none yet)
static int g_off;          // this process uses the system calls only
static int g_spin;         // it may run on more than one CPU
static __thread int t_busy;  // this thread is in a request

static int Raw(int dirfd, const char* path, int flags, mode_t mode) {
  return (int)syscall(SYS_openat, dirfd, path, flags, mode);
}

static int Ours(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && st.st_dev == g_dev && st.st_ino == g_ino;
}

static void AtForkChild(void) {
  // Another thread may have held the lock at the fork; the connection is the
  // parent's (this child has a copy of its descriptor).
  pthread_mutex_init(&g_mu, NULL);
  if (g_fd >= 0 && Ours(g_fd)) close(g_fd);
  g_fd = -1;
  g_pid = 0;
  g_off = 0;
}

__attribute__((constructor)) static void Init(void) {
  const char* name = getenv(FSS_PRELOAD_SOCKET_ENV);
  size_t n = name != NULL ? strlen(name) : 0;
  if (n == 0 || n > FSS_PRELOAD_NAME_MAX) return;
  g_addr.sun_family = AF_UNIX;
  memcpy(g_addr.sun_path + 1, name, n);  // abstract: after a NUL
  if (pthread_atfork(NULL, NULL, AtForkChild) != 0) return;
  g_addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

// Under g_mu: 0 when connected.
static int Connect(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < 64) return -1;
  rlim_t top = rl.rlim_cur < 1024 ? rl.rlim_cur : 1024;  // not a huge table for one descriptor
  int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  int fd = -1;
  if (connect(s, (const struct sockaddr*)&g_addr, g_addr_len) == 0) fd = fcntl(s, F_DUPFD_CLOEXEC, (int)(top - kFdRoom));
  close(s);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  g_fd = fd;
  g_dev = st.st_dev;
  g_ino = st.st_ino;
  g_pid = getpid();
  cpu_set_t cpus;
  g_spin = sched_getaffinity(0, sizeof(cpus), &cpus) == 0 && CPU_COUNT(&cpus) > 1;
  return 0;
}

// Under g_mu: the channel is done for this process.
static int Drop(void) {
  close(g_fd);
  g_fd = -1;
  g_off = 1;
  return 0;
}

static int64_t NowNs(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

// Under g_mu: 1 when the supervisor answered (*out: for an open a
// descriptor, else 0; or -errno), 0 when the caller is to make the system
// call itself. A request that was sent is answered unless the supervisor is
// gone (then the system call fails too) or refused this connection before
// reading it. `rflags`: MSG_CMSG_CLOEXEC for an open with O_CLOEXEC.
static int Exchange(const struct fss_preload_request* q, int rflags, int* out) {
  ssize_t n;
  do {
    n = send(g_fd, q, sizeof(*q), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n != (ssize_t)sizeof(*q)) return Drop();
  struct fss_preload_reply r;
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } c;
  struct iovec io = {&r, sizeof(r)};
  struct msghdr m;
  const int64_t until = g_spin ? NowNs() + kSpinNs : 0;
  for (;;) {
    memset(&m, 0, sizeof(m));
    m.msg_iov = &io;
    m.msg_iovlen = 1;
    m.msg_control = c.buf;
    m.msg_controllen = sizeof(c.buf);
    const int spin = until != 0 && NowNs() < until;
    n = recvmsg(g_fd, &m, rflags | (spin ? MSG_DONTWAIT : 0));
    if (n >= 0 || (errno != EAGAIN && errno != EINTR)) break;
    // The supervisor may wait for this CPU (woken onto it by the request).
    if (spin) sched_yield();
  }
  int fd = -1;
  struct cmsghdr* h = n > 0 ? CMSG_FIRSTHDR(&m) : NULL;
  if (h != NULL && h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS && h->cmsg_len == CMSG_LEN(sizeof(int))) {
    memcpy(&fd, CMSG_DATA(h), sizeof(fd));
  }
  if (n != (ssize_t)sizeof(r) || r.magic != FSS_PRELOAD_MAGIC) {
    if (fd >= 0) close(fd);
    return Drop();
  }
  const int is_open = q->nr == SYS_openat;
  if (r.kind == FSS_PRELOAD_FD && is_open) {
    // No descriptor with it: this process had no room for one.
    *out = fd >= 0 ? fd : (m.msg_flags & MSG_CTRUNC) != 0 ? -EMFILE : -EIO;
    return 1;
  }
  if (fd >= 0) close(fd);
  // An open answered by value is an error; the other calls return 0.
  if (r.kind == FSS_PRELOAD_VALUE && r.value >= -4095 && (is_open ? r.value < 0 : r.value <= 0)) {
    *out = (int)r.value;
    return 1;
  }
  return Drop();  // FALLBACK (for the rest of the session), or nonsense
}

// 1 when the supervisor performed request `q` (*out as Exchange says), 0
// when the caller is to make the system call.
static int Ask(const struct fss_preload_request* q, int rflags, int* out) {
  if (g_addr_len == 0 || t_busy) return 0;
  t_busy = 1;
  int answered = 0;
  // A thread cancelled in the middle of a request would keep the lock.
  int cancel_state;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
  pthread_mutex_lock(&g_mu);
  if (!g_off && (g_pid == 0 || g_pid == getpid())) {  // else a vfork or clone child: its parent's state
    if (g_fd >= 0 && !Ours(g_fd)) g_fd = -1;  // the program closed or replaced it: not ours to close
    if (g_fd < 0 && Connect() != 0) g_off = 1;
    if (!g_off) answered = Exchange(q, rflags, out);
  }
  pthread_mutex_unlock(&g_mu);
  pthread_setcancelstate(cancel_state, NULL);
  t_busy = 0;
  return answered;
}

static struct fss_preload_request Request(int nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3) {
  struct fss_preload_request q;
  memset(&q, 0, sizeof(q));
  q.magic = FSS_PRELOAD_MAGIC;
  q.nr = nr;
  q.args[0] = a0;
  q.args[1] = a1;
  q.args[2] = a2;
  q.args[3] = a3;
  return q;
}

// The call's return value from Ask's answer (errno set for an error), with
// errno as it was for a success.
static int Answer(int out, int saved_errno) {
  if (out < 0) {
    errno = -out;
    return -1;
  }
  errno = saved_errno;
  return out;
}

static int Open(int dirfd, const char* path, int flags, mode_t mode) {
  if ((flags & WRITE_INTENT) == 0) return Raw(dirfd, path, flags, mode);
  const int saved = errno;
  const struct fss_preload_request q = Request(SYS_openat, (uint64_t)(int64_t)dirfd, (uint64_t)(uintptr_t)path,
                                               (uint64_t)(unsigned)flags, (uint64_t)mode);
  int out = 0;
  if (!Ask(&q, (flags & O_CLOEXEC) != 0 ? MSG_CMSG_CLOEXEC : 0, &out)) {
    errno = saved;
    return Raw(dirfd, path, flags, mode);
  }
  return Answer(out, saved);
}

// unlinkat and utimensat, as their system calls take them (unlink and rmdir
// are unlinkat at AT_FDCWD in the kernel too, futimens utimensat without a
// path).
static int Call4(int nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3) {
  const int saved = errno;
  const struct fss_preload_request q = Request(nr, a0, a1, a2, a3);
  int out = 0;
  if (!Ask(&q, 0, &out)) {
    errno = saved;
    return (int)syscall(nr, a0, a1, a2, a3);
  }
  return Answer(out, saved);
}

static uint64_t Fd(int fd) { return (uint64_t)(int64_t)fd; }
static uint64_t Ptr(const void* p) { return (uint64_t)(uintptr_t)p; }

EXPORT int unlinkat(int dirfd, const char* path, int flags) {
  return Call4(SYS_unlinkat, Fd(dirfd), Ptr(path), (uint64_t)(unsigned)flags, 0);
}
EXPORT int unlink(const char* path) { return Call4(SYS_unlinkat, Fd(AT_FDCWD), Ptr(path), 0, 0); }
EXPORT int rmdir(const char* path) { return Call4(SYS_unlinkat, Fd(AT_FDCWD), Ptr(path), AT_REMOVEDIR, 0); }
EXPORT int utimensat(int dirfd, const char* path, const struct timespec times[2], int flags) {
  // As the C library's: only the system call takes no path. The header says
  // it is never NULL, so the compiler must not see the pointer to drop the
  // check.
  uint64_t at = Ptr(path);
  __asm__("" : "+r"(at));
  if (at == 0) {
    errno = EINVAL;
    return -1;
  }
  return Call4(SYS_utimensat, Fd(dirfd), at, Ptr(times), (uint64_t)(unsigned)flags);
}
EXPORT int futimens(int fd, const struct timespec times[2]) {
  return Call4(SYS_utimensat, Fd(fd), 0, Ptr(times), 0);
}

static int NeedsMode(int flags) { return (flags & O_CREAT) != 0 || (flags & __O_TMPFILE) == __O_TMPFILE; }

#define MODE_AFTER(last, flags)         \
  mode_t mode = 0;                      \
  if (NeedsMode(flags)) {               \
    va_list ap;                         \
    va_start(ap, last);                 \
    mode = va_arg(ap, mode_t);          \
    va_end(ap);                         \
  }

EXPORT int open(const char* path, int flags, ...) {
  MODE_AFTER(flags, flags);
  return Open(AT_FDCWD, path, flags, mode);
}

EXPORT int open64(const char* path, int flags, ...) {
  MODE_AFTER(flags, flags);
  return Open(AT_FDCWD, path, flags, mode);
}

EXPORT int openat(int dirfd, const char* path, int flags, ...) {
  MODE_AFTER(flags, flags);
  return Open(dirfd, path, flags, mode);
}

EXPORT int openat64(int dirfd, const char* path, int flags, ...) {
  MODE_AFTER(flags, flags);
  return Open(dirfd, path, flags, mode);
}

EXPORT int creat(const char* path, mode_t mode) { return Open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode); }

EXPORT int creat64(const char* path, mode_t mode) { return Open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode); }

// The fortified forms (_FORTIFY_SOURCE) of calls without a mode.
EXPORT int __open_2(const char* path, int flags);
EXPORT int __open64_2(const char* path, int flags);
EXPORT int __openat_2(int dirfd, const char* path, int flags);
EXPORT int __openat64_2(int dirfd, const char* path, int flags);

EXPORT int __open_2(const char* path, int flags) { return Open(AT_FDCWD, path, flags, 0); }
EXPORT int __open64_2(const char* path, int flags) { return Open(AT_FDCWD, path, flags, 0); }
EXPORT int __openat_2(int dirfd, const char* path, int flags) { return Open(dirfd, path, flags, 0); }
EXPORT int __openat64_2(int dirfd, const char* path, int flags) { return Open(dirfd, path, flags, 0); }
