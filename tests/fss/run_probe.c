/* SPDX-License-Identifier: MIT */
/* Programs for the `fss run` tests, run inside the root (cwd).
 *   run_probe threads   four threads each write and rename files with raw syscalls
 *   run_probe escape    tries to change files around the supervisor; exits 0 when
 *                       every attempt was either saved first (the test restores and
 *                       compares) or refused, and io_uring was refused
 *   run_probe nobody F  becomes uid and gid 65534 (as root), then creates F; exits 0
 *                       when it was created, 3 when the creation was refused with
 *                       EPERM, 1 otherwise (no util-linux setpriv needed)
 *   run_probe preload   opens files for writing through the C library (the preload
 *                       library's functions when fss run loaded it), from threads, a
 *                       fork child and after closing every descriptor; exits 0 when
 *                       each result, errno and descriptor is what the kernel gives
 *   run_probe preload-hostile
 *                       talks to fss run's preload channel itself: broken messages,
 *                       an unreadable path, the run area, a flood of unread replies;
 *                       exits 0 when each was refused or answered as documented and
 *                       the supervisor still serves
 *   run_probe emfile    fills its descriptor table, then opens a file for writing with
 *                       a raw system call: exits 0 when that fails with EMFILE and
 *                       succeeds once a number is free
 *   run_probe snap      prints the tree under cwd, one sorted line per entry: path,
 *                       type, mode, owner, group, and but for directories the link
 *                       count, size, mtime in ns, symlink target and a hash of the
 *                       content (FNV-1a, 64 bits), so that the suite needs no GNU find
 *                       and runs with busybox alone (the 6.1 guest) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "preload_wire.h"
#include "snap_common.h"

static void* writer(void* arg) {
  long n = (long)arg;
  char name[64], tmp[64];
  for (int i = 0; i < 20; ++i) {
    snprintf(tmp, sizeof(tmp), "t%ld.%d.tmp", n, i);
    snprintf(name, sizeof(name), "t%ld.%d", n, i);
    int fd = (int)syscall(SYS_openat, AT_FDCWD, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, name, strlen(name)) < 0) return (void*)1;
    close(fd);
    if (syscall(SYS_renameat2, AT_FDCWD, tmp, AT_FDCWD, name, 0) != 0) return (void*)1;
  }
  if (syscall(SYS_unlinkat, AT_FDCWD, "keep", 0) != 0 && errno != ENOENT) return (void*)1;
  return NULL;
}

static int threads(void) {
  pthread_t t[4];
  for (long i = 0; i < 4; ++i) pthread_create(&t[i], NULL, writer, (void*)i);
  int bad = 0;
  for (int i = 0; i < 4; ++i) {
    void* r;
    pthread_join(t[i], &r);
    bad |= r != NULL;
  }
  return bad;
}

static int escape(void) {
  /* direct syscall: a write-open of an existing file */
  int fd = (int)syscall(SYS_openat, AT_FDCWD, "file", O_WRONLY | O_TRUNC);
  if (fd < 0 || write(fd, "raw", 3) != 3) { perror("raw openat"); return 1; }
  close(fd);
  /* reopen a read-only descriptor for writing through /proc/self/fd */
  int ro = open("other", O_RDONLY);
  char p[64];
  snprintf(p, sizeof(p), "/proc/self/fd/%d", ro);
  fd = open(p, O_WRONLY | O_APPEND);
  if (fd < 0 || write(fd, "more", 4) != 4) { perror("proc reopen"); return 1; }
  close(fd);
  close(ro);
  /* a symlink outside the root that points into it */
  fd = open(getenv("OUTLINK"), O_WRONLY | O_TRUNC);
  if (fd < 0 || write(fd, "via-out", 7) != 7) { perror("outside symlink"); return 1; }
  close(fd);
  /* a shared writable mapping (the descriptor was opened for writing: saved then) */
  fd = open("mapped", O_RDWR);
  char* m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) { perror("mmap"); return 1; }
  memcpy(m, "MAPPED", 6);
  munmap(m, 4096);
  close(fd);
  /* io_uring is refused */
  char params[120] = {0};
  if (syscall(SYS_io_uring_setup, 4, params) >= 0) { fprintf(stderr, "io_uring allowed\n"); return 1; }
  /* the run area (outside the root, $AREA) cannot be changed, by any call */
  char j[4096];
  snprintf(j, sizeof(j), "%s/gen-1/.fss.journal", getenv("AREA"));
  if (open(j, O_WRONLY | O_TRUNC) >= 0 || errno != EACCES) { fprintf(stderr, "run area writable\n"); return 1; }
  if (syscall(SYS_openat, AT_FDCWD, j, O_RDWR) >= 0 || errno != EACCES) {
    fprintf(stderr, "run area writable by a raw openat\n");
    return 1;
  }
  if (rename(getenv("AREA"), "gone") == 0 || errno != EACCES) { fprintf(stderr, "run area renamed\n"); return 1; }
  if (unlink(j) == 0 || errno != EACCES) { fprintf(stderr, "run area journal removed\n"); return 1; }
  int ad = open(getenv("AREA"), O_RDONLY | O_DIRECTORY);
  if (ad < 0 || unlinkat(ad, "gen-1/.fss.journal", 0) == 0 || errno != EACCES) {
    fprintf(stderr, "run area changed through a directory descriptor\n");
    return 1;
  }
  if (fchmod(ad, 0777) == 0 || errno != EACCES) { fprintf(stderr, "run area chmod\n"); return 1; }
  close(ad);
  return 0;
}

static int nobody(const char* file) {
  if (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) {
    perror("run_probe nobody: drop to 65534");
    return 1;
  }
  int fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd >= 0) return close(fd) == 0 ? 0 : 1;
  return errno == EPERM ? 3 : 1;
}

enum { kSnapMaxEntries = 1 << 20 };
static char** snap_lines;
static size_t snap_count;
static int snap_err;

static uint64_t ContentHash(const char* path) {
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) { snap_err = errno; return 0; }
  uint64_t h = 0;
  if (!SnapHashFd(fd, &h)) snap_err = errno;
  close(fd);
  return h;
}

static int SnapEntry(const char* path, const struct stat* st, int flag, struct FTW* ftw) {
  (void)ftw;
  if (flag == FTW_NS || flag == FTW_DNR || snap_count == kSnapMaxEntries) { snap_err = EIO; return 1; }
  char line[2 * PATH_MAX + 160];
  int n = snprintf(line, sizeof(line), "%s %c %o %u %u", path, SnapType(st->st_mode),
                   (unsigned)(st->st_mode & 07777), (unsigned)st->st_uid, (unsigned)st->st_gid);
  if (!S_ISDIR(st->st_mode)) {
    char target[PATH_MAX] = "";
    if (S_ISLNK(st->st_mode)) {
      ssize_t len = readlink(path, target, sizeof(target) - 1);
      if (len < 0) { snap_err = errno; return 1; }
      target[len] = 0;
    }
    uint64_t hash = S_ISREG(st->st_mode) ? ContentHash(path) : 0;
    n += snprintf(line + n, sizeof(line) - (size_t)n, " %lu %lld %lld.%09ld %s %016" PRIx64,
                  (unsigned long)st->st_nlink, (long long)st->st_size, (long long)st->st_mtim.tv_sec,
                  st->st_mtim.tv_nsec, target, hash);
  }
  snap_lines[snap_count] = strdup(line);
  if (snap_lines[snap_count++] == NULL) { snap_err = ENOMEM; return 1; }
  return 0;
}

static int snap(void) {
  snap_lines = calloc(kSnapMaxEntries, sizeof(char*));
  if (snap_lines == NULL || nftw(".", SnapEntry, 64, FTW_PHYS) != 0 || snap_err != 0) {
    fprintf(stderr, "run_probe snap: %s\n", strerror(snap_err ? snap_err : errno));
    return 1;
  }
  qsort(snap_lines, snap_count, sizeof(char*), SnapCompareLines);
  for (size_t i = 0; i < snap_count; ++i) puts(snap_lines[i]);
  return 0;
}

static int Expect(int ok, const char* what) {
  if (!ok) fprintf(stderr, "run_probe: %s\n", what);
  return ok ? 0 : 1;
}

static void* preload_writer(void* arg) {
  long n = (long)arg;
  char name[64];
  for (int i = 0; i < 20; ++i) {
    snprintf(name, sizeof(name), "p-thread%ld.%d", n, i);
    int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, name, strlen(name)) < 0) return (void*)1;
    close(fd);
  }
  return NULL;
}

static int preload(void) {
  int bad = 0;
  int fd = open("p-new", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  bad |= Expect(fd >= 0 && write(fd, "new\n", 4) == 4, "create");
  bad |= Expect(fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0, "O_CLOEXEC");
  close(fd);
  int lowest = dup(0);  /* the number the kernel would give next */
  close(lowest);
  fd = open("a", O_WRONLY | O_TRUNC | O_NONBLOCK);
  bad |= Expect(fd == lowest, "the lowest free descriptor");
  bad |= Expect(fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC) == 0, "no O_CLOEXEC");
  bad |= Expect(fd >= 0 && (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0, "O_NONBLOCK as asked");
  bad |= Expect(fd >= 0 && write(fd, "trunc\n", 6) == 6, "truncate and write");
  close(fd);
  fd = open("other", O_RDWR | O_APPEND);
  bad |= Expect(fd >= 0 && (fcntl(fd, F_GETFL) & (O_APPEND | O_NONBLOCK)) == O_APPEND, "O_APPEND, blocking");
  bad |= Expect(fd >= 0 && write(fd, "more\n", 5) == 5, "append");
  close(fd);
  errno = 0;
  bad |= Expect(open("p-new", O_WRONLY | O_CREAT | O_EXCL, 0600) == -1 && errno == EEXIST, "EEXIST");
  bad |= Expect(open("missing/x", O_WRONLY | O_CREAT, 0600) == -1 && errno == ENOENT, "ENOENT");
  bad |= Expect(open("d", O_WRONLY) == -1 && errno == EISDIR, "EISDIR");
  bad |= Expect(open("a/", O_WRONLY) == -1 && errno == ENOTDIR, "ENOTDIR");
  int dir = open("d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  fd = openat(dir, "e/at", O_RDWR | O_CREAT, 0600);
  bad |= Expect(fd >= 0 && write(fd, "at\n", 3) == 3, "openat a directory descriptor");
  close(fd);
  close(dir);
  fd = creat("p-creat", 0600);
  bad |= Expect(fd >= 0 && (fcntl(fd, F_GETFL) & O_ACCMODE) == O_WRONLY, "creat");
  /* Times, removals and their errors. */
  const struct timespec when[2] = {{1000000000, 5}, {1100000000, 7}};
  struct stat ts;
  bad |= Expect(futimens(fd, when) == 0 && fstat(fd, &ts) == 0 && ts.st_mtim.tv_sec == 1100000000 &&
                    ts.st_mtim.tv_nsec == 7, "futimens");
  close(fd);
  bad |= Expect(utimensat(AT_FDCWD, "a", when, 0) == 0 && stat("a", &ts) == 0 && ts.st_atim.tv_sec == 1000000000,
                "utimensat");
  errno = 0;
  bad |= Expect(utimensat(AT_FDCWD, "missing", when, 0) == -1 && errno == ENOENT, "utimensat ENOENT");
  errno = 0;
  /* Through a pointer: the header's nonnull attribute does not come along. */
  int (*volatile utimensat_ptr)(int, const char*, const struct timespec*, int) = utimensat;
  bad |= Expect(utimensat_ptr(AT_FDCWD, NULL, when, 0) == -1 && errno == EINVAL, "utimensat without a path");
  bad |= Expect(unlink("p-creat") == 0 && access("p-creat", F_OK) != 0, "unlink");
  bad |= Expect(unlink("other") == 0, "unlink of a file the run saves");
  errno = 0;
  bad |= Expect(unlink("missing") == -1 && errno == ENOENT, "unlink ENOENT");
  errno = 0;
  bad |= Expect(unlinkat(AT_FDCWD, "d", 0) == -1 && errno == EISDIR, "unlinkat EISDIR");
  errno = 0;
  bad |= Expect(rmdir("a") == -1 && errno == ENOTDIR, "rmdir ENOTDIR");
  errno = 0;
  bad |= Expect(rmdir("d") == -1 && errno == ENOTEMPTY, "rmdir ENOTEMPTY");
  errno = EBADMSG;
  bad |= Expect(mkdir("p-dir", 0755) == 0 && rmdir("p-dir") == 0 && errno == EBADMSG, "rmdir, errno kept");
  dir = open("d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  bad |= Expect(unlinkat(dir, "e/at", 0) == 0 && access("d/e/at", F_OK) != 0, "unlinkat a directory descriptor");
  close(dir);
  /* A fork child, and threads at once. */
  pid_t pid = fork();
  if (pid == 0) {
    int f = open("p-child", O_WRONLY | O_CREAT, 0644);
    _exit(f >= 0 && write(f, "child\n", 6) == 6 ? 0 : 1);
  }
  int st = 0;
  bad |= Expect(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "a fork child");
  pthread_t t[4];
  for (long i = 0; i < 4; ++i) pthread_create(&t[i], NULL, preload_writer, (void*)i);
  for (int i = 0; i < 4; ++i) {
    void* r;
    pthread_join(t[i], &r);
    bad |= Expect(r == NULL, "threads");
  }
  /* A program that puts its own descriptors everywhere above 2 (a pipe's
   * write end) and then closes them all: its opens go on as usual, and
   * nothing is ever written into its descriptors. */
  int p[2];
  if (pipe2(p, O_NONBLOCK) != 0) return 1;
  for (int i = 3; i < 1024; ++i) {
    if (i != p[0] && i != p[1]) dup2(p[1], i);
  }
  fd = open("p-after-dup2", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const int open_errno = errno;
  char c;
  bad |= Expect(read(p[0], &c, 1) == -1 && errno == EAGAIN, "something was written into the program's pipe");
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  bad |= Expect(rl.rlim_cur > 1024 ? fd == 1024 : fd == -1 && open_errno == EMFILE,
                "an open with the table full below 1024");
  for (int i = 3; i < 1100; ++i) close(i);
  fd = open("p-after-close", O_WRONLY | O_CREAT, 0644);
  bad |= Expect(fd == 3, "after closing every descriptor");
  close(fd);
  /* The mode is the one asked less the umask. */
  mode_t mask = umask(022);
  struct stat sb;
  bad |= Expect(stat("p-new", &sb) == 0 && (sb.st_mode & 0777) == (0640 & ~mask), "the umask");
  return bad;
}

static int emfile(void) {
  struct rlimit rl = {32, 32};
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) return Expect(0, "setrlimit");
  int first = -1, last = -1;
  for (int fd; (fd = dup(0)) >= 0;) {
    if (first < 0) first = fd;
    last = fd;
  }
  int fd = (int)syscall(SYS_openat, AT_FDCWD, "emfile", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int bad = Expect(fd == -1 && errno == EMFILE, "an open with no free number");
  close(last);
  fd = (int)syscall(SYS_openat, AT_FDCWD, "emfile", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  bad |= Expect(fd == last && write(fd, "room\n", 5) == 5, "an open with one free number");
  /* Room again for whatever runs at exit (LeakSanitizer reads /proc). */
  for (int i = first; i >= 0 && i <= last; ++i) close(i);
  return bad;
}

static int ChannelConnect(void) {
  const char* name = getenv(FSS_PRELOAD_SOCKET_ENV);
  struct sockaddr_un a;
  memset(&a, 0, sizeof(a));
  a.sun_family = AF_UNIX;
  size_t n = strlen(name);
  memcpy(a.sun_path + 1, name, n);
  int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (s < 0 || connect(s, (struct sockaddr*)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) != 0) {
    perror("run_probe: connect to the preload channel");
    exit(1);
  }
  return s;
}

/* Whether the supervisor ends the connection (EOF within 10 s). */
static int Ended(int s) {
  struct pollfd p = {s, POLLIN, 0};
  char b[64];
  return poll(&p, 1, 10000) == 1 && recv(s, b, sizeof(b), 0) == 0;
}

/* One request, its reply; *fd the descriptor that came with it, or -1. */
static int Ask(int s, const struct fss_preload_request* q, struct fss_preload_reply* r, int* fd) {
  *fd = -1;
  if (send(s, q, sizeof(*q), MSG_NOSIGNAL) != (ssize_t)sizeof(*q)) return 0;
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } c;
  struct iovec io = {r, sizeof(*r)};
  struct msghdr m;
  memset(&m, 0, sizeof(m));
  m.msg_iov = &io;
  m.msg_iovlen = 1;
  m.msg_control = c.buf;
  m.msg_controllen = sizeof(c.buf);
  if (recvmsg(s, &m, MSG_CMSG_CLOEXEC) != (ssize_t)sizeof(*r)) return 0;
  struct cmsghdr* h = CMSG_FIRSTHDR(&m);
  if (h != NULL && h->cmsg_type == SCM_RIGHTS) memcpy(fd, CMSG_DATA(h), sizeof(int));
  return r->magic == FSS_PRELOAD_MAGIC;
}

static int preload_hostile(void) {
  if (getenv(FSS_PRELOAD_SOCKET_ENV) == NULL) return Expect(0, "no preload channel");
  int bad = 0;
  const struct fss_preload_request make = {
      FSS_PRELOAD_MAGIC, SYS_openat, {(uint64_t)AT_FDCWD, (uintptr_t)"hostile-made", O_WRONLY | O_CREAT, 0644, 0, 0}};
  struct fss_preload_request q;
  struct fss_preload_reply r;
  int fd;
  /* Broken messages end the connection, and change nothing. */
  int s = ChannelConnect();
  bad |= Expect(send(s, "abc", 3, 0) == 3 && Ended(s), "a short message");
  close(s);
  s = ChannelConnect();
  char longer[sizeof(make) + 8] = {0};
  memcpy(longer, &make, sizeof(make));
  bad |= Expect(send(s, longer, sizeof(longer), 0) == (ssize_t)sizeof(longer) && Ended(s), "a long message");
  close(s);
  s = ChannelConnect();
  q = make;
  q.magic ^= 1;
  bad |= Expect(send(s, &q, sizeof(q), 0) == (ssize_t)sizeof(q) && Ended(s), "a wrong magic");
  close(s);
  s = ChannelConnect();
  q = make;
  q.nr = SYS_renameat;
  q.args[1] = (uintptr_t) "a";
  q.args[2] = (uint64_t)AT_FDCWD;
  q.args[3] = (uintptr_t) "hostile-made";
  bad |= Expect(send(s, &q, sizeof(q), 0) == (ssize_t)sizeof(q) && Ended(s), "another call");
  close(s);
  bad |= Expect(access("a", F_OK) == 0 && access("hostile-made", F_OK) != 0, "a broken message changed the tree");
  /* Well-formed requests are answered as their system calls would be. */
  s = ChannelConnect();
  q = make;
  q.args[1] = 16;  /* no memory there */
  bad |= Expect(Ask(s, &q, &r, &fd) && r.kind == FSS_PRELOAD_VALUE && r.value == -EFAULT && fd < 0, "an unreadable path");
  bad |= Expect(Ask(s, &make, &r, &fd) && r.kind == FSS_PRELOAD_FD && fd >= 0 && write(fd, "h\n", 2) == 2,
                "a well-formed open");
  close(fd);
  char area[PATH_MAX];
  const char* dir = getenv("AREA");
  snprintf(area, sizeof(area), "%s/gen-1/planted", dir != NULL ? dir : "/nonexistent");
  q = make;
  q.args[1] = (uintptr_t)area;
  bad |= Expect(dir != NULL && Ask(s, &q, &r, &fd) && r.kind == FSS_PRELOAD_VALUE && r.value == -EACCES &&
                    access(area, F_OK) != 0,
                "an open in the run area");
  /* Requests whose replies are never read: the supervisor drops the
   * connection rather than wait for this process. */
  q = make;
  q.args[1] = (uintptr_t) "missing/x";
  int dropped = 0;
  for (int i = 0; i < 50000 && !dropped; ++i) {
    if (send(s, &q, sizeof(q), MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) continue;
    if (errno == EAGAIN) {
      usleep(200);
    } else {
      dropped = 1;
    }
  }
  bad |= Expect(dropped, "unread replies: never dropped");
  close(s);
  /* The supervisor still serves everyone else. */
  fd = open("after-hostile", O_WRONLY | O_CREAT, 0644);
  bad |= Expect(fd >= 0 && write(fd, "ok\n", 3) == 3, "served after");
  close(fd);
  return bad;
}

int main(int argc, char** argv) {
  if (argc == 2 && strcmp(argv[1], "threads") == 0) return threads();
  if (argc == 2 && strcmp(argv[1], "escape") == 0) return escape();
  if (argc == 2 && strcmp(argv[1], "snap") == 0) return snap();
  if (argc == 2 && strcmp(argv[1], "preload") == 0) return preload();
  if (argc == 2 && strcmp(argv[1], "emfile") == 0) return emfile();
  if (argc == 2 && strcmp(argv[1], "preload-hostile") == 0) return preload_hostile();
  if (argc == 3 && strcmp(argv[1], "nobody") == 0) return nobody(argv[2]);
  fprintf(stderr, "usage: run_probe threads|escape|snap|preload|preload-hostile|emfile|nobody FILE\n");
  return 2;
}
