/* SPDX-License-Identifier: MIT */
/* A seeded sequence of file-system calls in the current directory, each
 * printed with its result and errno: run once directly and once under
 * `fss run` (tests/fss/conformance_test.sh), the two logs and trees must be
 * equal. Names collide on purpose so that the error cases come up: ENOENT,
 * EEXIST, ENOTDIR, EISDIR, ENOTEMPTY, EACCES (a read-only directory, when not
 * root), ELOOP, ENAMETOOLONG, EXDEV (a rename or link to OTHER_FS_DIR).
 *   conformance_probe SEED COUNT OTHER_FS_DIR */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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

int main(int argc, char** argv) {
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
