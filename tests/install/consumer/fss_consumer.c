/* SPDX-License-Identifier: MIT */
/* A C program outside the rams tree, built against an installed libfss:
 * writes a file through the fssd at argv[1] and reads its size back.
 * Prints "fss consumer: ok" and exits 0 when both worked. */
#include <errno.h>
#include <fcntl.h>
#include <rams/fss.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: fss_consumer SOCKET\n");
    return 2;
  }
  fss_client* c = fss_connect(argv[1]);
  if (c == NULL) {
    fprintf(stderr, "fss consumer: connect %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  const char msg[] = "written through fssd\n";
  int fd = fss_open(c, "consumer.txt", O_CREAT | O_WRONLY | O_TRUNC, 0644);
  int ok = fd >= 0 && fss_write(c, fd, msg, sizeof msg - 1) == (ssize_t)(sizeof msg - 1);
  ok = ok && fss_close(c, fd) == 0;
  struct fss_statbuf st;
  ok = ok && fss_stat(c, "consumer.txt", &st) == 0 && st.size == (int64_t)(sizeof msg - 1);
  ok = fss_disconnect(c) == 0 && ok;
  printf("fss consumer: %s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
