/* SPDX-License-Identifier: MIT */
/* A seeded sequence of file-system calls in the current directory, each
 * printed with its result and errno: run once directly and once under
 * `fss run` (tests/fss/conformance_test.sh), the two logs and trees must be
 * equal. Names collide on purpose so that the error cases come up: ENOENT,
 * EEXIST, ENOTDIR, EISDIR, ENOTEMPTY, EACCES (a read-only directory, when not
 * root), ELOOP, ENAMETOOLONG, EXDEV (a rename or link to OTHER_FS_DIR).
 *   conformance_probe SEED COUNT OTHER_FS_DIR
 * Also, so that the test needs no more than busybox (it runs in the 6.1
 * guest too):
 *   conformance_probe snap DIR        what this user can see of the tree:
 *                                     a sorted line per entry (path, type,
 *                                     mode, size, links, symlink target) and
 *                                     per readable file a hash of its bytes;
 *                                     an unsearchable directory's inside is
 *                                     left out
 *   conformance_probe nobody CMD...   CMD as uid and gid 65534, no groups */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "snap_common.h"

static uint64_t state;
static unsigned pick(unsigned n) {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return (unsigned)(state % n);
}

static char longname[300];
static const char* names[] = {"a", "b", "c", "d", "d/a", "d/b", "d/e", "d/e/a", "a/x", "loop", "loop/x",
                              "ro/a", "ro", "d/", "a/", longname, "link-a", "link-d/b"};
#define NNAMES (sizeof(names) / sizeof(names[0]))
static const char* other;

static const char* name(void) { return names[pick(NNAMES)]; }

static void report(int i, const char* what, const char* a, const char* b, long r) {
  int e = r < 0 ? errno : 0;
  printf("%d %s %s %s -> %ld %s\n", i, what, a == longname ? "LONG" : a, b == longname ? "LONG" : b ? b : "",
         r < 0 ? -1 : r, e ? strerrorname_np(e) : "");
}

static long write_some(int fd, int i) {
  char buf[64];
  int n = snprintf(buf, sizeof(buf), "data %d\n", i);
  return write(fd, buf, (size_t)n);
}

static void one(int i) {
  const char* p = name();
  const char* q = name();
  char dst[4096];
  long r;
  int fd;
  switch (pick(24)) {
    case 0: case 1: {
      static const int modes[] = {O_WRONLY | O_CREAT, O_WRONLY | O_CREAT | O_EXCL, O_RDWR | O_TRUNC, O_WRONLY | O_APPEND,
                                  O_RDONLY | O_TRUNC, O_WRONLY | O_NOFOLLOW, O_RDONLY | O_DIRECTORY | O_CREAT};
      int m = modes[pick(7)];
      fd = open(p, m | O_NONBLOCK | O_CLOEXEC, 0644);
      report(i, "open", p, "", fd < 0 ? -1 : 0);
      if (fd >= 0) {
        if ((m & O_ACCMODE) != O_RDONLY) report(i, "write", p, "", write_some(fd, i));
        close(fd);
      }
      break;
    }
    case 2: {
      struct stat st;  /* creat has no O_NONBLOCK: a FIFO without a reader would block */
      if (stat(p, &st) == 0 && S_ISFIFO(st.st_mode)) break;  /* also through a symlink */
      fd = creat(p, 0600);
      report(i, "creat", p, "", fd < 0 ? -1 : 0);
      if (fd >= 0) close(fd);
      break;
    }
    case 3: report(i, "truncate", p, "", truncate(p, pick(3) * 5)); break;
    case 4:
      fd = open(p, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
      report(i, "ftruncate", p, "", fd < 0 ? -1 : ftruncate(fd, 3));
      if (fd >= 0) close(fd);
      break;
    case 5: report(i, "unlink", p, "", unlink(p)); break;
    case 6: report(i, "rmdir", p, "", rmdir(p)); break;
    case 7: report(i, "unlinkat-dir", p, "", unlinkat(AT_FDCWD, p, AT_REMOVEDIR)); break;
    case 8: report(i, "rename", p, q, rename(p, q)); break;
    case 9: {
      static const unsigned flags[] = {0, 1 /* NOREPLACE */, 2 /* EXCHANGE */};
      unsigned f = flags[pick(3)];
      r = syscall(SYS_renameat2, AT_FDCWD, p, AT_FDCWD, q, f);
      report(i, f == 0 ? "renameat2" : f == 1 ? "renameat2-noreplace" : "renameat2-exchange", p, q, r);
      break;
    }
    case 10: report(i, "mkdir", p, "", mkdir(p, 0755)); break;
    case 11: report(i, "mknod-fifo", p, "", mknod(p, S_IFIFO | 0644, 0)); break;
    case 12: report(i, "link", p, q, link(p, q)); break;
    case 13: report(i, "symlink", p, q, symlink(p, q)); break;
    case 14: report(i, "chmod", p, "", chmod(p, pick(2) ? 0640 : 0755)); break;
    case 15:
      fd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
      report(i, "fchmod", p, "", fd < 0 ? -1 : fchmod(fd, 0600));
      if (fd >= 0) close(fd);
      break;
    case 16: report(i, "lchown", p, "", lchown(p, getuid(), getgid())); break;
    case 17: {
      struct timespec t[2] = {{1000000000, 0}, {1200000000, 500}};
      report(i, "utimensat", p, "", utimensat(AT_FDCWD, p, t, pick(2) ? AT_SYMLINK_NOFOLLOW : 0));
      break;
    }
    case 18:
      fd = open(p, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
      report(i, "fallocate", p, "", fd < 0 ? -1 : fallocate(fd, 0, 0, 100));
      if (fd >= 0) close(fd);
      break;
    case 19: {
      int in = open("src", O_RDONLY | O_CLOEXEC);
      fd = open(p, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
      if (pick(2)) {
        report(i, "copy_file_range", p, "", fd < 0 ? -1 : copy_file_range(in, NULL, fd, NULL, 7, 0));
      } else {
        off_t off = 0;
        report(i, "sendfile", p, "", fd < 0 ? -1 : sendfile(fd, in, &off, 5));
      }
      if (fd >= 0) close(fd);
      close(in);
      break;
    }
    case 20:
      fd = open(".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0640);
      report(i, "O_TMPFILE", ".", "", fd < 0 ? -1 : write_some(fd, i) > 0 ? 0 : -1);
      if (fd >= 0) {
        report(i, "linkat-empty-path", q, "", linkat(fd, "", AT_FDCWD, q, AT_EMPTY_PATH));
        close(fd);
      }
      break;
    case 21: {
      fd = open(p, O_RDWR | O_NONBLOCK | O_CLOEXEC);
      struct stat st;
      if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        char* m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        report(i, "mmap-shared-write", p, "", m == MAP_FAILED ? -1 : 0);
        if (m != MAP_FAILED) {
          m[0] = 'M';
          munmap(m, (size_t)st.st_size);
        }
      } else {
        report(i, "mmap-open", p, "", fd < 0 ? -1 : 0);
      }
      if (fd >= 0) close(fd);
      break;
    }
    case 22: {
      int ren = (int)pick(2);
      snprintf(dst, sizeof(dst), "%s/x", other);
      report(i, ren ? "rename-exdev" : "link-exdev", p, "OTHER", ren ? rename(p, dst) : link(p, dst));
      break;
    }
    default: report(i, "symlinkat-loop", "loop", "", symlinkat("loop", AT_FDCWD, "loop")); break;
  }
  fflush(stdout);
}

/* snap: the lines, sorted at the end. */
static char** lines;
static size_t nlines, cap;

static void add_line(const char* text) {
  if (nlines == cap) {
    cap = cap ? 2 * cap : 1024;
    lines = realloc(lines, cap * sizeof(*lines));
    if (lines == NULL) exit(3);
  }
  lines[nlines] = strdup(text);
  if (lines[nlines++] == NULL) exit(3);
}

/* 1 and *out for a file this user can read, else 0. */
static int hash_file(int dir, const char* name, uint64_t* out) {
  int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return 0;
  const int ok = SnapHashFd(fd, out);
  close(fd);
  return ok;
}

static void snap_entry(int dir, const char* name, const char* path) {
  struct stat st;
  if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return;
  char target[4096] = "";
  if (S_ISLNK(st.st_mode)) {
    ssize_t n = readlinkat(dir, name, target, sizeof(target) - 1);
    target[n > 0 ? n : 0] = '\0';
  }
  char line[8192];
  snprintf(line, sizeof(line), "%s %c %o %lld %lu %s", path, SnapType(st.st_mode), (unsigned)(st.st_mode & 07777),
           (long long)st.st_size, (unsigned long)st.st_nlink, target);
  add_line(line);
  uint64_t h;
  if (S_ISREG(st.st_mode) && hash_file(dir, name, &h)) {
    snprintf(line, sizeof(line), "~ %s %016llx", path, (unsigned long long)h);
    add_line(line);
  }
  if (!S_ISDIR(st.st_mode)) return;
  int sub = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (sub < 0) return; /* not searchable by this user: its inside is left out */
  DIR* d = fdopendir(sub);
  if (d == NULL) {
    close(sub);
    return;
  }
  struct dirent* e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    char child[4096];
    snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
    snap_entry(dirfd(d), e->d_name, child);
  }
  closedir(d);
}

static int snap(const char* dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    perror("conformance_probe snap");
    return 1;
  }
  snap_entry(fd, ".", ".");
  close(fd);
  qsort(lines, nlines, sizeof(*lines), SnapCompareLines);
  for (size_t i = 0; i < nlines; ++i) puts(lines[i]);
  return 0;
}

static int as_nobody(char** argv) {
  if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) {
    perror("conformance_probe nobody");
    return 1;
  }
  execvp(argv[0], argv);
  perror("conformance_probe nobody: exec");
  return 127;
}

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "snap") == 0) return snap(argv[2]);
  if (argc >= 3 && strcmp(argv[1], "nobody") == 0) return as_nobody(argv + 2);
  if (argc != 4) {
    fprintf(stderr, "usage: conformance_probe SEED COUNT OTHER_FS_DIR\n");
    return 2;
  }
  state = strtoull(argv[1], NULL, 10) * 2654435761u + 1;
  int count = atoi(argv[2]);
  other = argv[3];
  memset(longname, 'n', sizeof(longname) - 1);
  for (int i = 0; i < count; ++i) one(i);
  return 0;
}
