/* SPDX-License-Identifier: MIT */
/* What the fss test probes' tree snapshots share (run_probe snap,
 * conformance_probe snap): an entry's type letter, a hash of a file's
 * bytes, and the order of their sorted lines. */
#ifndef RAMS_TESTS_FSS_SNAP_COMMON_H_
#define RAMS_TESTS_FSS_SNAP_COMMON_H_

#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* As find's %y. */
static inline char SnapType(mode_t m) {
  if (S_ISREG(m)) return 'f';
  if (S_ISDIR(m)) return 'd';
  if (S_ISLNK(m)) return 'l';
  if (S_ISFIFO(m)) return 'p';
  if (S_ISSOCK(m)) return 's';
  if (S_ISCHR(m)) return 'c';
  return S_ISBLK(m) ? 'b' : '?';
}

/* FNV-1a over the bytes read from `fd` to its end: 1 and *out, or 0 (errno
 * set) when a read fails. */
static inline int SnapHashFd(int fd, uint64_t* out) {
  uint64_t h = 14695981039346656037ull;
  unsigned char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) {
    for (ssize_t i = 0; i < n; ++i) h = (h ^ buf[i]) * 1099511628211ull;
  }
  if (n < 0) return 0;
  *out = h;
  return 1;
}

/* qsort's comparison of two lines (char*), byte by byte. */
static inline int SnapCompareLines(const void* a, const void* b) {
  return strcmp(*(char* const*)a, *(char* const*)b);
}

#endif /* RAMS_TESTS_FSS_SNAP_COMMON_H_ */
