/* SPDX-License-Identifier: MIT */
/* Programs for the `fss run` tests, run inside the root (cwd).
 *   run_probe threads   four threads each write and rename files with raw syscalls
 *   run_probe escape    tries to change files around the supervisor; exits 0 when
 *                       every attempt was either saved first (the test restores and
 *                       compares) or refused, and io_uring was refused
 *   run_probe nobody F  becomes uid and gid 65534 (as root), then creates F; exits 0
 *                       when it was created, 3 when the creation was refused with
 *                       EPERM, 1 otherwise (no util-linux setpriv needed)
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

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
  uint64_t h = 14695981039346656037ull;
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) { snap_err = errno; return 0; }
  unsigned char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0)
    for (ssize_t i = 0; i < n; ++i) h = (h ^ buf[i]) * 1099511628211ull;
  if (n < 0) snap_err = errno;
  close(fd);
  return h;
}

static char TypeLetter(mode_t m) {
  if (S_ISREG(m)) return 'f';
  if (S_ISDIR(m)) return 'd';
  if (S_ISLNK(m)) return 'l';
  if (S_ISFIFO(m)) return 'p';
  if (S_ISSOCK(m)) return 's';
  if (S_ISCHR(m)) return 'c';
  return S_ISBLK(m) ? 'b' : '?';
}

static int SnapEntry(const char* path, const struct stat* st, int flag, struct FTW* ftw) {
  (void)ftw;
  if (flag == FTW_NS || flag == FTW_DNR || snap_count == kSnapMaxEntries) { snap_err = EIO; return 1; }
  char line[2 * PATH_MAX + 160];
  int n = snprintf(line, sizeof(line), "%s %c %o %u %u", path, TypeLetter(st->st_mode),
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

static int CompareLines(const void* a, const void* b) {
  return strcmp(*(char* const*)a, *(char* const*)b);
}

static int snap(void) {
  snap_lines = calloc(kSnapMaxEntries, sizeof(char*));
  if (snap_lines == NULL || nftw(".", SnapEntry, 64, FTW_PHYS) != 0 || snap_err != 0) {
    fprintf(stderr, "run_probe snap: %s\n", strerror(snap_err ? snap_err : errno));
    return 1;
  }
  qsort(snap_lines, snap_count, sizeof(char*), CompareLines);
  for (size_t i = 0; i < snap_count; ++i) puts(snap_lines[i]);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 2 && strcmp(argv[1], "threads") == 0) return threads();
  if (argc == 2 && strcmp(argv[1], "escape") == 0) return escape();
  if (argc == 2 && strcmp(argv[1], "snap") == 0) return snap();
  if (argc == 3 && strcmp(argv[1], "nobody") == 0) return nobody(argv[2]);
  fprintf(stderr, "usage: run_probe threads|escape|snap|nobody FILE\n");
  return 2;
}
