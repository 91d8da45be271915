/* SPDX-License-Identifier: MIT */
/* Programs for the `fss run` tests, run inside the root (cwd).
 *   run_probe threads   four threads each write and rename files with raw syscalls
 *   run_probe escape    tries to change files around the supervisor; exits 0 when
 *                       every attempt was either saved first (the test restores and
 *                       compares) or refused, and io_uring was refused */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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

int main(int argc, char** argv) {
  if (argc == 2 && strcmp(argv[1], "threads") == 0) return threads();
  if (argc == 2 && strcmp(argv[1], "escape") == 0) return escape();
  fprintf(stderr, "usage: run_probe threads|escape\n");
  return 2;
}
