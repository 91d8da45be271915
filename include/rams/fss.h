/* SPDX-License-Identifier: MIT */
/* libfss: the C client API of the rams File-System Server (fssd).
 *
 * A process connects to a running fssd (fss_connect) and then performs file
 * operations on the served tree through it; every request travels through a
 * shared-memory channel private to the connection. Paths are relative to the
 * served root ("/a/b" and "a/b" name the same file); no path can leave it.
 * Every call returns what the matching syscall returns (-1 with errno set on
 * failure, e.g. fss_open -> a descriptor or -1); descriptors are the
 * connection's own and mean nothing to the kernel. fss_unlink also removes a
 * directory with everything in it (saved whole by the checkpoint first).
 *
 * Thread safety: one fss_client may be used from several threads; calls on
 * it are serialized (one request in flight per connection). Use one
 * connection per thread for parallelism.
 */
#ifndef RAMS_FSS_H_
#define RAMS_FSS_H_

#include "rams/export.h"
RAMS_API_BEGIN

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fss_client fss_client;

/* File status, as struct stat with fixed-width fields. */
struct fss_statbuf {
  uint64_t dev;
  uint64_t ino;
  uint32_t mode;
  uint32_t nlink;
  uint32_t uid;
  uint32_t gid;
  uint64_t rdev;
  int64_t size;
  int64_t blksize;
  int64_t blocks;
  int64_t atime_ns;
  int64_t mtime_ns;
  int64_t ctime_ns;
};

/* One directory entry; type is a DT_* value. */
struct fss_dirent {
  uint64_t ino;
  uint8_t type;
  uint8_t reserved[7];
  char name[256];
};

/* Connects to the fssd listening on `socket_path` (NULL: $FSS_SOCKET).
 * NULL with errno on failure. */
fss_client* fss_connect(const char* socket_path);
/* Closes the connection and every descriptor it holds. */
int fss_disconnect(fss_client* c);

int fss_open(fss_client* c, const char* path, int flags, mode_t mode);
int fss_close(fss_client* c, int fd);
ssize_t fss_read(fss_client* c, int fd, void* buf, size_t count);
ssize_t fss_write(fss_client* c, int fd, const void* buf, size_t count);
ssize_t fss_pread(fss_client* c, int fd, void* buf, size_t count, off_t offset);
ssize_t fss_pwrite(fss_client* c, int fd, const void* buf, size_t count, off_t offset);
off_t fss_lseek(fss_client* c, int fd, off_t offset, int whence);
int fss_fstat(fss_client* c, int fd, struct fss_statbuf* st);
int fss_fsync(fss_client* c, int fd);
int fss_ftruncate(fss_client* c, int fd, off_t length);
/* Reads up to `max` entries of the directory open as `fd` (fss_open with
 * O_RDONLY | O_DIRECTORY); returns how many, 0 at the end, -1 on error. */
int fss_readdir(fss_client* c, int fd, struct fss_dirent* entries, size_t max);

int fss_stat(fss_client* c, const char* path, struct fss_statbuf* st);
int fss_lstat(fss_client* c, const char* path, struct fss_statbuf* st);
int fss_mkdir(fss_client* c, const char* path, mode_t mode);
int fss_rmdir(fss_client* c, const char* path);
int fss_unlink(fss_client* c, const char* path);
int fss_rename(fss_client* c, const char* from, const char* to);
int fss_truncate(fss_client* c, const char* path, off_t length);
int fss_symlink(fss_client* c, const char* target, const char* linkpath);
ssize_t fss_readlink(fss_client* c, const char* path, char* buf, size_t size);
int fss_chmod(fss_client* c, const char* path, mode_t mode);

/* Checkpoint control: accept the changes and begin a new checkpoint
 * (fss_commit, also what fss_checkpoint does), or put the tree back to the
 * checkpoint and begin a new one (fss_restore). */
int fss_commit(fss_client* c);
int fss_checkpoint(fss_client* c);
int fss_restore(fss_client* c);

#ifdef __cplusplus
}
#endif

RAMS_API_END

#endif /* RAMS_FSS_H_ */
