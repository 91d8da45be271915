// SPDX-License-Identifier: MIT
// fss run: the seccomp user-notification supervisor (see run.h, docs/fss.md).
#include "run.h"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "checkpoint.h"
#include "mapping/pager_socket.h"
#include "preload_wire.h"
#include "root.h"
#include "run_area.h"
#include "sys/adaptive_poll.h"
#include "sys/sys.h"

// Linux 6.6: the listener wakes the supervisor, and the supervisor the
// caller, on the waker's CPU (Debian 12's 6.1 headers lack both).
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif
// Linux 6.5: a pidfd of a Unix socket's peer (its process at connect time).
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

namespace rams::fss {
namespace {

#if defined(__x86_64__)
constexpr uint32_t kArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr uint32_t kArch = AUDIT_ARCH_AARCH64;
#else
#error "fss run: unsupported architecture"
#endif

// Group commit (see Checkpoint): at most this long, or this many records,
// between a record that may wait and its fdatasync.
constexpr int64_t kCommitWindowNs = 100'000'000;
constexpr size_t kGroupRecords = 1024;

// The preload channel: how many program processes may hold a connection
// (later ones are refused and make the system calls, which still come here
// as notifications). After a request the supervisor polls for the next one
// as sys::AdaptivePoll says (where it may run on more than one CPU): up to
// 50 us, and not at all while the requests come further apart than that (a
// build's compilers, whose CPU a poll would take).
constexpr size_t kMaxPeers = 256;
constexpr const char* kPreloadLibrary = "libfss-preload.so";

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

int64_t NegErrno(const Status& s) { return s.ok() ? 0 : -static_cast<int64_t>(s.code()); }

// glibc's __O_TMPFILE includes O_DIRECTORY: only its own bit means write
// intent (else every directory open, ls or rm -r, would count as one).
constexpr int kWriteIntent = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | (__O_TMPFILE & ~O_DIRECTORY);

// The calls the supervisor performs itself (after saving).
constexpr int kNotified[] = {
#ifdef SYS_open
    SYS_open, SYS_creat, SYS_unlink, SYS_rmdir, SYS_rename, SYS_mkdir, SYS_mknod, SYS_link,
    SYS_symlink, SYS_chmod, SYS_chown, SYS_lchown,
#endif
    SYS_openat, SYS_openat2, SYS_truncate, SYS_unlinkat, SYS_renameat2, SYS_mkdirat,
    SYS_mknodat, SYS_linkat, SYS_symlinkat, SYS_fchmodat, SYS_fchownat, SYS_utimensat,
    SYS_fchmod, SYS_fchown,
#ifdef SYS_renameat
    SYS_renameat,
#endif
};
// Calls that change what ApplyUmask reads (the umask, the file-system ids):
// seen by the supervisor, which stops caching it, then let through (they
// change no file).
constexpr int kCredentialCalls[] = {
    SYS_umask,    SYS_setuid,   SYS_setgid,    SYS_setreuid, SYS_setregid,
    SYS_setresuid, SYS_setresgid, SYS_setfsuid, SYS_setfsgid,
};
// Mutating calls not handled yet: refused (ENOSYS, so libraries fall back
// where they can), never let through unsaved. io_uring is refused because its
// operations bypass the filter.
constexpr int kRefused[] = {
#ifdef SYS_utime
    SYS_utime, SYS_utimes, SYS_futimesat,
#endif
    SYS_setxattr, SYS_lsetxattr, SYS_fsetxattr, SYS_removexattr, SYS_lremovexattr,
    SYS_fremovexattr, SYS_io_uring_setup, SYS_name_to_handle_at, SYS_open_by_handle_at,
    452 /* fchmodat2 (6.6): glibc falls back to fchmodat */,
};

// The filter: open/openat without write intent are allowed in BPF itself
// (they change nothing); the rest of kNotified goes to the supervisor.
std::vector<sock_filter> BuildFilter() {
  std::vector<sock_filter> f;
  auto stmt = [&](uint16_t code, uint32_t k) { f.push_back(BPF_STMT(code, k)); };
  auto jump = [&](uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) { f.push_back(BPF_JUMP(code, k, jt, jf)); };
  stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch));
  jump(BPF_JMP | BPF_JEQ | BPF_K, kArch, 1, 0);
  stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr));
#if defined(__x86_64__)
  // The x32 ABI numbers are another table: refuse them whole.
  jump(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1);
  stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
#endif
  auto flags_check = [&](int nr, int arg) {
    // if nr == this: load flags (low word), allow when no write intent, else notify
    jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(nr), 0, 5);
    stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args) + 8 * arg);
    jump(BPF_JMP | BPF_JSET | BPF_K, kWriteIntent, 1, 0);
    stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    stmt(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF);
    stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr));  // not reached; keeps jf offsets simple
  };
#ifdef SYS_open
  flags_check(SYS_open, 1);
#endif
  flags_check(SYS_openat, 2);
  for (int nr : kNotified) {
    jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(nr), 0, 1);
    stmt(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF);
  }
  for (int nr : kCredentialCalls) {
    jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(nr), 0, 1);
    stmt(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF);
  }
  for (int nr : kRefused) {
    jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(nr), 0, 1);
    stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
  }
  stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  return f;
}

// The preload channel's end in the program: the library to preload and the
// abstract name of the supervisor's socket.
struct PreloadEnv {
  std::string library;  // "" = none
  std::string socket_name;
};

// The child: installs the filter, hands the listener to the parent, execs.
[[noreturn]] void ChildMain(int sock, const std::vector<std::string>& command, const PreloadEnv& preload) {
  std::vector<sock_filter> f = BuildFilter();
  sock_fprog prog{static_cast<unsigned short>(f.size()), f.data()};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(126);
  int listener = static_cast<int>(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog));
  if (listener < 0) {
    fprintf(stderr, "fss run: seccomp user notification unavailable: %s\n", strerror(errno));
    _exit(126);
  }
  const char byte = 0;
  if (!mapping::SendMessage(sock, &byte, 1, listener).ok()) _exit(126);
  close(listener);
  char ok;
  if (read(sock, &ok, 1) != 1) _exit(126);  // the parent holds the listener now
  close(sock);
  if (!preload.library.empty()) {
    const char* old = getenv("LD_PRELOAD");
    std::string list = preload.library + (old != nullptr && *old != '\0' ? ":" + std::string(old) : "");
    if (setenv("LD_PRELOAD", list.c_str(), 1) != 0 || setenv(FSS_PRELOAD_SOCKET_ENV, preload.socket_name.c_str(), 1) != 0) {
      _exit(126);
    }
  } else {
    unsetenv(FSS_PRELOAD_SOCKET_ENV);  // an outer fss run's
  }
  std::vector<char*> argv;
  for (const std::string& s : command) argv.push_back(const_cast<char*>(s.c_str()));
  argv.push_back(nullptr);
  execvp(argv[0], argv.data());
  fprintf(stderr, "fss run: %s: %s\n", argv[0], strerror(errno));
  _exit(errno == ENOENT ? 127 : 126);
}

// Where a call's path leads: a directory descriptor and a name to act on.
struct Target {
  sys::UniqueFd dir;  // the containing directory (O_PATH)
  std::string name;
  bool inside = false;
  std::string rel;  // canonical root-relative path, when inside
  bool slash = false;   // the caller's path ended in '/'
  bool exists = false;  // `name` exists in `dir` (st is its lstat)
  struct stat st {};
  // An error of the final component (a name too long, "file/"), which the
  // kernel reports only after every directory walk of the call
  // (LocateDeferred: rename's two paths).
  int final_err = 0;
};

// How Locate treats a trailing slash on an existing name.
enum class Slash {
  kLookup,  // a path lookup (open, chmod, ...): "name/" is followed and must be a directory, else ENOTDIR
  kParent,  // a call on the entry (unlink, rmdir, rename, creating): the caller applies the kernel's rule
};

std::string FdPath(int fd) {
  char link[64];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  char buf[4097];
  ssize_t n = readlink(link, buf, sizeof(buf) - 1);
  if (n < 0) return "";
  return std::string(buf, static_cast<size_t>(n));
}

// Whether two directories are on one mount (rename and link across mounts
// are the kernel's EXDEV); true when that cannot be told.
bool SameMount(int a, int b) {
  struct statx x, y;
  if (statx(a, "", AT_EMPTY_PATH, STATX_MNT_ID, &x) != 0 || statx(b, "", AT_EMPTY_PATH, STATX_MNT_ID, &y) != 0 ||
      (x.stx_mask & y.stx_mask & STATX_MNT_ID) == 0) {
    return true;
  }
  return x.stx_mnt_id == y.stx_mnt_id;
}

// Whether absolute path `p` is `dir` or beneath it.
bool InDir(const std::string& p, const std::string& dir) {
  return p == dir || (p.size() > dir.size() && p.compare(0, dir.size(), dir) == 0 && p[dir.size()] == '/');
}

class Supervisor {
 public:
  Supervisor(const Root& root, Checkpoint& cp, int listener, bool confine, std::string area, AddfdMode addfd,
             sys::UniqueFd preload_socket)
      : root_(root), cp_(cp), listener_(listener), confine_(confine), area_(std::move(area)), addfd_(addfd),
        preload_socket_(std::move(preload_socket)) {
    cpu_set_t cpus;
    spin_ = sched_getaffinity(0, sizeof(cpus), &cpus) == 0 && CPU_COUNT(&cpus) > 1;
    own_empty_path_links_ = ProbeEmptyPathLinks();
  }
  // How many calls came as notifications and through the preload channel.
  uint64_t notified() const { return notified_; }
  uint64_t preloaded() const { return preloaded_; }
  // Serves until the last process of the session has exited, reaping
  // `child` (the command) meanwhile into *status: on Linux 6.1 a task's
  // filter is released when it is reaped, not when it exits (newer kernels
  // release it at exit), so the listener's POLLHUP waits for that reap.
  // Returns whether the child was reaped.
  bool Serve(pid_t child, int* status);

 private:
  void Commit();
  void Handle(const seccomp_notif& req);
  // A process of the program at the other end of a preload connection: the
  // process the kernel names (SO_PEERCRED), and a pidfd that tells when it
  // has exited (so that its pid, reused, is never taken for it).
  struct Peer {
    sys::UniqueFd sock;
    pid_t pid = 0;
    sys::UniqueFd pidfd;
  };
  void AcceptPeer();
  // Serves one request of `peer`; false when the connection is to end (its
  // process closed it, or broke the protocol).
  bool ServePeer(Peer& peer);
  // Hands fd_ to the caller of notification `id` (the way addfd_ says):
  // kNoAnswer when the answer went with it (SECCOMP_ADDFD_FLAG_SEND), else
  // the descriptor's number in the caller, to answer with, or -errno.
  static constexpr int64_t kNoAnswer = INT64_MIN;
  int64_t InstallFd(uint64_t id);
  // The call's result: >= 0 or -errno. Sets fd_ to a descriptor to install.
  int64_t Perform(const seccomp_notif& req);
  Result<std::string> ReadString(uint64_t addr);
  Status ReadMem(uint64_t addr, void* out, size_t len);
  Result<sys::UniqueFd> BaseDir(int64_t dirfd);
  Result<Target> Locate(int64_t dirfd, uint64_t path_addr, bool follow, Slash slash = Slash::kLookup);
  // The same for a path copied out of the caller already (read once: the
  // copy that decided is the one resolved).
  Result<Target> Locate(int64_t dirfd, std::string path, bool follow, Slash slash = Slash::kLookup);
  // As Locate, but an error of the final component is left in final_err.
  Result<Target> LocateDeferred(int64_t dirfd, uint64_t path_addr, bool follow, Slash slash);
  Result<Target> LocateDeferred(int64_t dirfd, std::string path, bool follow, Slash slash);
  // mkdir, mknod, symlink, the new name of link: the kernel's EEXIST (an
  // existing name, whatever follows) and ENOENT ("name/" of a missing name,
  // except for mkdir) come before any save; 0 when the call may go on.
  static int64_t CreateError(const Target& t, bool is_mkdir);
  // `owned`, when given, holds `base`: a bare name then uses it as its
  // directory instead of opening "." again (`owned_is_dir`: it is known to
  // be one, the caller's working directory, so it is not looked at).
  Result<Target> LocatePath(int base, std::string path, bool follow, int hops, sys::UniqueFd* owned = nullptr,
                            bool owned_is_dir = false);
  // Saves before the change; a refusal under --confine.
  int64_t Save(const Target& t, Change change);
  // unlink/unlinkat: a file's first change moves it into the area (saved
  // and removed in one rename) where it can.
  int64_t Unlink(int64_t dirfd, uint64_t path, int flags);
  int64_t Open(int64_t dirfd, uint64_t path, int flags, mode_t mode, const open_how* how);
  int64_t FdMeta(int64_t fd, const std::function<int(int)>& op);
  // linkat(AT_EMPTY_PATH), linking a descriptor, takes CAP_DAC_READ_SEARCH
  // until Linux 6.10 (else ENOENT before any lookup); from 6.10 a file the
  // caller opened itself is enough. ProbeEmptyPathLinks asks the running
  // kernel whether this process may link its own files so (a descriptor of
  // the run area linked onto the area itself: EEXIST when allowed, ENOENT
  // when not, nothing made either way); EmptyPathLinkAllowed answers for
  // the caller: that, or its own CAP_DAC_READ_SEARCH (capget), and no when
  // it cannot be told.
  bool ProbeEmptyPathLinks() const;
  bool EmptyPathLinkAllowed();
  // Takes the caller's umask; false (refuse: EPERM) when its status cannot
  // be read or its file-system uid/gid differ from this process's. What
  // /proc/PID/status said is kept per process while it lives (a pidfd tells
  // when it exits, so a reused pid is read again), until that process makes
  // a umask or set*id call: from then on it is read at every call.
  bool ApplyUmask();
  struct Credentials {
    sys::UniqueFd pidfd;
    mode_t umask = 0;
    bool ours = false;  // file-system uid and gid are this process's
  };
  bool ReadCredentials(Credentials* out);
  // Whether the request is still pending: after a read through the pid
  // (memory, /proc/PID), the read was of the caller and not of a process
  // that reused its pid.
  // Through the preload channel: the peer's process has not exited (its
  // pidfd would be readable), so the pid is still its.
  bool StillWaiting() {
    if (peer_pidfd_ >= 0) {
      pollfd p{peer_pidfd_, POLLIN, 0};
      return poll(&p, 1, 0) == 0;
    }
    return ioctl(listener_, SECCOMP_IOCTL_NOTIF_ID_VALID, &id_) == 0;
  }

  const Root& root_;
  Checkpoint& cp_;
  int listener_;
  bool confine_;
  const std::string area_;  // the run area's absolute path: untouchable
  pid_t pid_ = 0;
  uint64_t id_ = 0;
  sys::UniqueFd fd_;
  bool fd_cloexec_ = false;
  // openat flags the kernel accepted (Open), the last 8; a free slot holds
  // 0, which it accepts too.
  std::array<int, 8> good_flags_{};
  size_t next_good_ = 0;
  AddfdMode addfd_;  // kProbe becomes kInstall where SECCOMP_ADDFD_FLAG_SEND (5.14) is EINVAL
  bool told_no_send_ = false;
  // This process's ids (it never changes them) and the umask it last set
  // (none yet: no mask has bits above 0777).
  const uid_t euid_ = geteuid();
  const gid_t egid_ = getegid();
  mode_t umask_ = ~mode_t{0};
  static constexpr size_t kMaxCached = 64;  // pidfds held
  std::map<pid_t, Credentials> credentials_;
  // The processes (thread groups) that made a umask or set*id call: theirs
  // is never kept. Past kMaxUncached of them, or when a caller's thread
  // group cannot be told, no process's is kept (cache_credentials_ false).
  static constexpr size_t kMaxUncached = 1024;
  std::set<pid_t> uncached_;
  bool cache_credentials_ = true;
  bool Kept(pid_t pid) const { return cache_credentials_ && uncached_.count(pid) == 0; }
  // A umask or set*id call of thread pid_: its process's status is never
  // kept again.
  void ForgetCredentials();
  // The preload channel: its listening socket (invalid: none) and the
  // connected processes.
  sys::UniqueFd preload_socket_;
  std::vector<Peer> peers_;
  int peer_pidfd_ = -1;  // the call being served came from this peer
  bool spin_ = false;    // more than one CPU: poll a while after a peer's request
  bool own_empty_path_links_ = false;  // ProbeEmptyPathLinks
  uint64_t notified_ = 0;
  uint64_t preloaded_ = 0;
};

Status Supervisor::ReadMem(uint64_t addr, void* out, size_t len) {
  iovec local{out, len};
  iovec remote{reinterpret_cast<void*>(addr), len};
  ssize_t n = process_vm_readv(pid_, &local, 1, &remote, 1, 0);
  if (n != static_cast<ssize_t>(len)) return Error(EFAULT, "read the caller's memory");
  if (!StillWaiting()) return Error(ESRCH, "the caller is gone");
  return Status::Ok();
}

Result<std::string> Supervisor::ReadString(uint64_t addr) {
  if (addr == 0) return Error(EFAULT, "null path");
  std::string out;
  char buf[4096];
  while (out.size() <= kMaxPathBytes) {
    size_t room = 4096 - (addr % 4096);  // never cross a page in one read
    iovec local{buf, room};
    iovec remote{reinterpret_cast<void*>(addr), room};
    ssize_t n = process_vm_readv(pid_, &local, 1, &remote, 1, 0);
    if (n <= 0) return Error(EFAULT, "read the caller's path");
    if (!StillWaiting()) return Error(ESRCH, "the caller is gone");
    const char* end = static_cast<const char*>(memchr(buf, '\0', static_cast<size_t>(n)));
    if (end != nullptr) {
      out.append(buf, static_cast<size_t>(end - buf));
      if (out.size() >= kMaxPathBytes) return Error(ENAMETOOLONG, "path");
      return out;
    }
    out.append(buf, static_cast<size_t>(n));
    addr += static_cast<uint64_t>(n);
  }
  return Error(ENAMETOOLONG, "path");
}

Result<sys::UniqueFd> Supervisor::BaseDir(int64_t dirfd) {
  char link[64];
  if (static_cast<int>(dirfd) == AT_FDCWD) {
    snprintf(link, sizeof(link), "/proc/%d/cwd", pid_);
  } else {
    snprintf(link, sizeof(link), "/proc/%d/fd/%d", pid_, static_cast<int>(dirfd));
  }
  sys::UniqueFd fd(::open(link, O_PATH | O_CLOEXEC));
  if (!fd.valid()) return Error(errno == ENOENT ? EBADF : errno, "the caller's directory");
  if (!StillWaiting()) return Error(ESRCH, "the caller is gone");  // the pid may be another's now
  return fd;
}

Result<Target> Supervisor::LocatePath(int base, std::string path, bool follow, int hops, sys::UniqueFd* owned,
                                      bool owned_is_dir) {
  if (path.empty()) return Error(ENOENT, "empty path");
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (path == "/") name = ".";
  sys::UniqueFd pdir;
  struct stat bst;
  if (owned != nullptr && owned->valid() && slash == std::string::npos &&
      (owned_is_dir || (fstat(owned->get(), &bst) == 0 && S_ISDIR(bst.st_mode)))) {
    pdir = std::move(*owned);
  } else {
    pdir = sys::UniqueFd(::openat(base, dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  }
  if (!pdir.valid()) return ErrnoError("lookup");
  if (name == "." || name == "..") {
    sys::UniqueFd d(::openat(pdir.get(), name.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!d.valid()) return ErrnoError("lookup");
    std::string real = FdPath(d.get());
    size_t cut = real.rfind('/');
    if (cut == std::string::npos) return Error(EIO, "path of a directory");
    return LocatePath(AT_FDCWD, real, false, hops);
  }
  std::string real = FdPath(pdir.get());
  if (InDir(real, area_) || InDir(real + "/" + name, area_)) return Error(EACCES, "the run area");
  if (name.size() > NAME_MAX) {  // after the walk, which needs search permission on the directory
    if (faccessat(pdir.get(), ".", X_OK, AT_EACCESS) != 0) return ErrnoError("lookup");
    Target t;
    t.dir = std::move(pdir);
    t.name = std::move(name);
    t.final_err = ENAMETOOLONG;
    return t;
  }
  const std::string& r = root_.abs_path();
  bool inside = real == r || (real.size() > r.size() && real.compare(0, r.size(), r) == 0 && real[r.size()] == '/');
  Target t;
  if (inside) {
    std::string rel = real == r ? name : real.substr(r.size() + 1) + "/" + name;
    // The directory is open already and `real` its canonical path: unless a
    // final symlink is to be followed (inside the root, by the confined
    // lookup) or the directory is gone (" (deleted)"), it is the parent the
    // confined lookup would open again.
    struct stat lst;
    const bool final_link = follow && fstatat(pdir.get(), name.c_str(), &lst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(lst.st_mode);
    if (!final_link && !IsDeletedPath(real) && !root_.IsHidden(rel)) {
      t.dir = std::move(pdir);
      t.name = std::move(name);
      t.rel = std::move(rel);
      t.inside = true;
      return t;
    }
    Result<Resolved> res = root_.Resolve(rel, follow);
    // A symlink followed to "file/" is the kernel's ENOTDIR (the confined
    // lookup drops the slash): asked of the kernel only when a link was met.
    struct stat kst;
    if (res.ok() && follow && res->rel != rel && fstatat(pdir.get(), name.c_str(), &kst, 0) != 0 && errno == ENOTDIR) {
      return Error(ENOTDIR, "lookup");
    }
    if (res.ok()) {
      t.dir = std::move(res->parent);
      t.name = std::move(res->name);
      t.rel = std::move(res->rel);
      t.inside = true;
      return t;
    }
    if (res.code() != EXDEV) return res.status();
    // A symlink out of the root: followed by hand below, as outside.
  }
  if (follow) {
    struct stat st;
    if (fstatat(pdir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
      if (hops >= kMaxSymlinkHops) return Error(ELOOP, "symlinks");
      Result<std::string> to = ReadLinkAt(pdir.get(), name);
      if (!to.ok()) return to.status();
      Result<Target> t2 = LocatePath(pdir.get(), *to, true, hops + 1);
      struct stat kst;
      if (t2.ok() && to->size() > 1 && to->back() == '/' && fstatat(t2->dir.get(), t2->name.c_str(), &kst, 0) == 0 &&
          !S_ISDIR(kst.st_mode)) {
        return Error(ENOTDIR, "lookup");  // a link to "file/"
      }
      return t2;
    }
  }
  t.dir = std::move(pdir);
  t.name = std::move(name);
  return t;
}

Result<Target> Supervisor::Locate(int64_t dirfd, uint64_t path_addr, bool follow, Slash slash) {
  RAMS_ASSIGN_OR_RETURN(std::string path, ReadString(path_addr));
  return Locate(dirfd, std::move(path), follow, slash);
}

Result<Target> Supervisor::Locate(int64_t dirfd, std::string path, bool follow, Slash slash) {
  Result<Target> t = LocateDeferred(dirfd, std::move(path), follow, slash);
  if (t.ok() && t->final_err != 0) return Error(t->final_err, "lookup");
  return t;
}

Result<Target> Supervisor::LocateDeferred(int64_t dirfd, uint64_t path_addr, bool follow, Slash slash) {
  RAMS_ASSIGN_OR_RETURN(std::string path, ReadString(path_addr));
  return LocateDeferred(dirfd, std::move(path), follow, slash);
}

Result<Target> Supervisor::LocateDeferred(int64_t dirfd, std::string path, bool follow, Slash slash) {
  const bool slashed = path.size() > 1 && path.back() == '/';
  // A lookup of "name/" follows a final symlink, even under O_NOFOLLOW.
  if (slashed && slash == Slash::kLookup) follow = true;
  // /proc/self is the caller's, not the supervisor's (its magic links are
  // then followed by their names, as any symlink out of /proc).
  for (const char* self : {"/proc/self", "/proc/thread-self"}) {
    size_t n = strlen(self);
    if (path.compare(0, n, self) == 0 && (path.size() == n || path[n] == '/')) {
      path = "/proc/" + std::to_string(pid_) + path.substr(n);
    }
  }
  Result<Target> t = Error(ENOENT, "path");
  if (!path.empty() && path[0] == '/') {
    t = LocatePath(AT_FDCWD, path, follow, 0);
  } else {
    RAMS_ASSIGN_OR_RETURN(sys::UniqueFd base, BaseDir(dirfd));
    t = LocatePath(base.get(), path, follow, 0, &base, static_cast<int>(dirfd) == AT_FDCWD);
  }
  if (!t.ok() || t->final_err != 0) return t;
  t->slash = slashed;
  // The final lookup needs search permission on its directory, as in the
  // kernel (the O_PATH opens above do not check it).
  if (fstatat(t->dir.get(), t->name.c_str(), &t->st, AT_SYMLINK_NOFOLLOW) == 0) {
    t->exists = true;
  } else if (errno != ENOENT) {
    return ErrnoError("lookup");
  }
  // "name/" must be a directory, as the kernel says (with a symlink to one
  // only where the call follows it).
  if (slash == Slash::kLookup && t->slash && t->exists && !S_ISDIR(t->st.st_mode)) t->final_err = ENOTDIR;
  return t;
}

int64_t Supervisor::CreateError(const Target& t, bool is_mkdir) {
  if (t.exists) return -EEXIST;
  if (t.slash && !is_mkdir) return -ENOENT;
  return 0;
}

int64_t Supervisor::Save(const Target& t, Change change) {
  if (!t.inside) return confine_ ? -EACCES : 0;
  // Locate's lstat of the name, just made, is the save's.
  Status s = t.rel.empty() ? cp_.BeforeChange(t.rel, change)
                           : cp_.BeforeChange(t.rel, change, t.dir.get(), {.exists = t.exists, .st = t.st});
  if (!s.ok()) {
    fprintf(stderr, "fss run: save of /%s failed, the call is refused: %s\n", t.rel.c_str(), s.ToString().c_str());
    return NegErrno(s);
  }
  return 0;
}

int64_t Supervisor::Unlink(int64_t dirfd, uint64_t path, int flags) {
  Result<Target> t = Locate(dirfd, path, false, Slash::kParent);
  if (!t.ok()) return NegErrno(t.status());
  // The kernel's own refusals come before any save (whose error would
  // differ), in its order: a missing name; for unlink, "name/"; write
  // permission on the directory; the type.
  const bool rmdir = (flags & AT_REMOVEDIR) != 0;
  if (!t->exists) return -ENOENT;
  if (!rmdir && t->slash) return S_ISDIR(t->st.st_mode) ? -EISDIR : -ENOTDIR;
  if (faccessat(t->dir.get(), ".", W_OK | X_OK, AT_EACCESS) != 0) return -errno;
  if (!rmdir && S_ISDIR(t->st.st_mode)) return -EISDIR;
  if (rmdir && !S_ISDIR(t->st.st_mode)) return -ENOTDIR;
  if (t->inside && (flags & AT_REMOVEDIR) == 0) {
    Result<bool> moved = cp_.MoveAway(t->rel, t->dir.get(), t->name);
    if (!moved.ok()) return NegErrno(moved.status());
    if (*moved) return 0;
  }
  if (int64_t r = Save(*t, Change::kReplace); r != 0) return r;
  return unlinkat(t->dir.get(), t->name.c_str(), flags) == 0 ? 0 : -errno;
}

// The value after "\nKEY:\t" in /proc/PID/status, or nullptr.
const char* StatusField(const char* text, const char* key) {
  const char* p = strstr(text, key);
  return p == nullptr ? nullptr : p + strlen(key);
}

// The first KiB of /proc/PID/status (Tgid, Umask, Uid and Gid are in the
// first few hundred bytes), NUL-terminated; false when it cannot be read.
bool ReadStatusStart(pid_t pid, char (&text)[1024]) {
  char p[64];
  snprintf(p, sizeof(p), "/proc/%d/status", pid);
  sys::UniqueFd f(::open(p, O_RDONLY | O_CLOEXEC));
  if (!f.valid()) return false;
  ssize_t n = sys::RetryEintr([&] { return ::read(f.get(), text, sizeof(text) - 1); });
  if (n <= 0) return false;
  text[n] = '\0';
  return true;
}

bool Supervisor::ReadCredentials(Credentials* out) {
  char text[1024];
  if (!ReadStatusStart(pid_, text)) return false;
  const char* um = StatusField(text, "\nUmask:\t");
  const char* uid = StatusField(text, "\nUid:\t");
  const char* gid = StatusField(text, "\nGid:\t");
  unsigned mask;
  long r, e, s2, fsuid, fsgid;
  if (um == nullptr || uid == nullptr || gid == nullptr || sscanf(um, "%o", &mask) != 1 ||
      sscanf(uid, "%ld %ld %ld %ld", &r, &e, &s2, &fsuid) != 4 || sscanf(gid, "%ld %ld %ld %ld", &r, &e, &s2, &fsgid) != 4) {
    return false;
  }
  out->umask = mask & 0777;
  // The call is performed with this process's credentials: only for a
  // caller whose file-system ids are still ours (a program that changed its
  // uid or gid is refused rather than acting with ours).
  out->ours = fsuid == static_cast<long>(euid_) && fsgid == static_cast<long>(egid_);
  return true;
}

void Supervisor::ForgetCredentials() {
  char text[1024];
  const char* field = ReadStatusStart(pid_, text) ? StatusField(text, "\nTgid:\t") : nullptr;
  long tgid = 0;
  if (field == nullptr || sscanf(field, "%ld", &tgid) != 1 || !StillWaiting() || tgid <= 0 ||
      uncached_.size() >= kMaxUncached) {
    cache_credentials_ = false;  // cannot tell whose: nobody's is kept
    credentials_.clear();
    return;
  }
  uncached_.insert(static_cast<pid_t>(tgid));
  credentials_.erase(static_cast<pid_t>(tgid));
  credentials_.erase(pid_);
}

bool Supervisor::ApplyUmask() {
  Credentials fresh;
  const Credentials* c = nullptr;
  auto it = credentials_.find(pid_);
  if (it != credentials_.end()) {
    pollfd pfd{it->second.pidfd.get(), POLLIN, 0};
    if (Kept(pid_) && poll(&pfd, 1, 0) == 0) {
      c = &it->second;  // still the process that was read
    } else {
      credentials_.erase(it);
    }
  }
  if (c == nullptr) {
    // Both the pidfd and the status are taken through the pid; the check
    // that the caller still waits, after both, says they were the caller's.
    // Kept only for a process (a thread has no pidfd before Linux 6.9).
    if (Kept(pid_)) fresh.pidfd = sys::UniqueFd(static_cast<int>(syscall(SYS_pidfd_open, pid_, 0)));
    if (!ReadCredentials(&fresh) || !StillWaiting()) return false;
    c = &fresh;
    if (fresh.pidfd.valid()) {
      if (credentials_.size() >= kMaxCached) credentials_.clear();
      c = &credentials_.insert_or_assign(pid_, std::move(fresh)).first->second;
    }
  }
  if (c->umask != umask_) umask(c->umask);
  umask_ = c->umask;
  return c->ours;
}

int64_t Supervisor::Open(int64_t dirfd, uint64_t path, int flags, mode_t mode, const open_how* how) {
  if ((flags & kWriteIntent) == 0 && how != nullptr) return INT64_MIN;  // nothing changes: continue
  // The kernel checks the flags before the path: its verdict on them (a
  // directory descriptor of -1 then fails the lookup, EBADF, not the flags).
  // For openat the verdict depends on the flags alone (its mode is masked,
  // not checked): the flags it accepted are kept.
  if (how != nullptr || std::find(good_flags_.begin(), good_flags_.end(), flags) == good_flags_.end()) {
    long v;
    if (how != nullptr) {
      v = syscall(SYS_openat2, -1, "x", how, sizeof(*how));
    } else {
      v = syscall(SYS_openat, -1, "x", flags, mode);
    }
    if (v >= 0) close(static_cast<int>(v));
    if (v < 0 && errno != EBADF) return -errno;
    if (v < 0 && how == nullptr) good_flags_[next_good_++ % good_flags_.size()] = flags;
  }
  const bool create = (flags & O_CREAT) != 0 && (flags & __O_TMPFILE) != __O_TMPFILE;
  const bool excl = create && (flags & O_EXCL) != 0;
  const bool follow = (flags & O_NOFOLLOW) == 0 && !excl;
  // Creating "name/" is the kernel's EISDIR after the directory walk,
  // before the name is looked up (so before any symlink is followed).
  Result<Target> t = Locate(dirfd, path, follow && !create, create ? Slash::kParent : Slash::kLookup);
  if (!t.ok()) return NegErrno(t.status());
  if (create && t->slash) return -EISDIR;
  if (create && follow && t->exists && S_ISLNK(t->st.st_mode)) {
    Result<std::string> body = ReadLinkAt(t->dir.get(), t->name);
    if (body.ok() && body->size() > 1 && body->back() == '/') return -EISDIR;  // the link creates "name/"
    t = Locate(dirfd, path, true, Slash::kParent);
    if (!t.ok()) return NegErrno(t.status());
  }
  if (excl && t->exists) return -EEXIST;
  const bool exists = t->exists;
  const struct stat& st = t->st;
  // Writing to a directory is the kernel's EISDIR, before any save.
  if (exists && S_ISDIR(st.st_mode) && ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC) != 0) &&
      (flags & __O_TMPFILE) != __O_TMPFILE) {
    return -EISDIR;
  }
  // O_TMPFILE makes nothing visible; the linkat that names it is saved.
  if ((flags & kWriteIntent) != 0 && (flags & __O_TMPFILE) != __O_TMPFILE) {
    if (int64_t r = Save(*t, exists ? Change::kContent : Change::kReplace); r != 0) return r;
  }
  // O_NOFOLLOW: the name was resolved already; a symlink swapped in since is
  // the program racing itself and gets ELOOP. O_NONBLOCK: a FIFO must not
  // block the supervisor (cleared again below); O_EXCL opens only a new
  // regular file.
  const bool nonblock = !excl && (flags & O_NONBLOCK) == 0;
  int f = flags | O_CLOEXEC | O_NOFOLLOW | (nonblock ? O_NONBLOCK : 0);
  if (how != nullptr && how->resolve != 0 && !t->inside) {
    // Outside the root: the kernel applies the caller's resolve rules.
    open_how h = *how;
    h.flags = static_cast<uint64_t>(f);
    int fd = static_cast<int>(syscall(SYS_openat2, t->dir.get(), t->name.c_str(), &h, sizeof(h)));
    if (fd < 0) return -errno;
    fd_ = sys::UniqueFd(fd);
  } else {
    int fd = ::openat(t->dir.get(), t->name.c_str(), f, mode);
    if (fd < 0) return -errno;
    fd_ = sys::UniqueFd(fd);
  }
  // F_SETFL takes only its own flags (append, direct, noatime, async) from
  // the value: those the open was given.
  if (nonblock) fcntl(fd_.get(), F_SETFL, f & ~O_NONBLOCK);
  fd_cloexec_ = (flags & O_CLOEXEC) != 0;
  return 0;
}

bool Supervisor::ProbeEmptyPathLinks() const {
  sys::UniqueFd dir(::open(area_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  return dir.valid() && linkat(dir.get(), "", AT_FDCWD, area_.c_str(), AT_EMPTY_PATH) != 0 && errno == EEXIST;
}

bool Supervisor::EmptyPathLinkAllowed() {
  if (own_empty_path_links_) return true;
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, pid_};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0 || !StillWaiting()) return false;
  return (data[CAP_TO_INDEX(CAP_DAC_READ_SEARCH)].effective & CAP_TO_MASK(CAP_DAC_READ_SEARCH)) != 0;
}

// fchmod/fchown on a descriptor of the caller: saved by the path it has now.
int64_t Supervisor::FdMeta(int64_t fd, const std::function<int(int)>& op) {
  char link[64];
  snprintf(link, sizeof(link), "/proc/%d/fd/%d", pid_, static_cast<int>(fd));
  sys::UniqueFd o(::open(link, O_PATH | O_CLOEXEC));
  if (!o.valid()) return -EBADF;
  const std::string abs = FdPath(o.get());
  if (InDir(abs, area_)) return -EACCES;  // the run area
  Result<std::string> rel = root_.RelativeOf(abs);
  if (rel.ok()) {
    if (root_.IsHidden(*rel)) return -EACCES;
    Status s = cp_.BeforeChange(*rel, Change::kMetadata);
    if (!s.ok()) return NegErrno(s);
  } else if (confine_) {
    return -EACCES;
  }
  return op(o.get()) == 0 ? 0 : -errno;
}

int64_t Supervisor::Perform(const seccomp_notif& req) {
  const auto& a = req.data.args;
  auto at = [&](int nr_at, int64_t d) { return nr_at ? d : AT_FDCWD; };
  auto simple = [&](int64_t dirfd, uint64_t path, bool follow, Change change,
                    const std::function<int(const Target&)>& op) -> int64_t {
    Result<Target> t = Locate(dirfd, path, follow);
    if (!t.ok()) return NegErrno(t.status());
    if (int64_t r = Save(*t, change); r != 0) return r;
    return op(*t) == 0 ? 0 : -errno;
  };
  // mkdir, mknod, symlink and link's new name: nothing is saved for a name
  // the kernel would refuse to create.
  auto creating = [&](int64_t dirfd, uint64_t path, bool is_mkdir, const std::function<int(const Target&)>& op) -> int64_t {
    Result<Target> t = Locate(dirfd, path, false, Slash::kParent);
    if (!t.ok()) return NegErrno(t.status());
    if (int64_t r = CreateError(*t, is_mkdir); r != 0) return r;
    if (int64_t r = Save(*t, Change::kReplace); r != 0) return r;
    return op(*t) == 0 ? 0 : -errno;
  };
  auto proc_path = [](int fd) { return "/proc/self/fd/" + std::to_string(fd); };
  switch (req.data.nr) {
#ifdef SYS_open
    case SYS_open: return Open(AT_FDCWD, a[0], static_cast<int>(a[1]), static_cast<mode_t>(a[2]), nullptr);
    case SYS_creat: return Open(AT_FDCWD, a[0], O_CREAT | O_WRONLY | O_TRUNC, static_cast<mode_t>(a[1]), nullptr);
    case SYS_unlink: return Unlink(AT_FDCWD, a[0], 0);
    case SYS_rmdir: return Unlink(AT_FDCWD, a[0], AT_REMOVEDIR);
    case SYS_mkdir: return creating(AT_FDCWD, a[0], true, [&](const Target& t) {
      return mkdirat(t.dir.get(), t.name.c_str(), static_cast<mode_t>(a[1]));
    });
    case SYS_mknod: return creating(AT_FDCWD, a[0], false, [&](const Target& t) {
      return mknodat(t.dir.get(), t.name.c_str(), static_cast<mode_t>(a[1]), static_cast<dev_t>(a[2]));
    });
    case SYS_chmod: return simple(AT_FDCWD, a[0], true, Change::kMetadata, [&](const Target& t) {
      return fchmodat(t.dir.get(), t.name.c_str(), static_cast<mode_t>(a[1]), 0);
    });
    case SYS_chown:
    case SYS_lchown: {
      bool follow = req.data.nr == SYS_chown;
      return simple(AT_FDCWD, a[0], follow, Change::kMetadata, [&](const Target& t) {
        return fchownat(t.dir.get(), t.name.c_str(), static_cast<uid_t>(a[1]), static_cast<gid_t>(a[2]),
                        AT_SYMLINK_NOFOLLOW);
      });
    }
#endif
    case SYS_openat: return Open(a[0], a[1], static_cast<int>(a[2]), static_cast<mode_t>(a[3]), nullptr);
    case SYS_openat2: {
      if (a[3] < sizeof(open_how)) return -EINVAL;
      open_how how{};
      if (Status s = ReadMem(a[2], &how, sizeof(how)); !s.ok()) return -EFAULT;
      return Open(a[0], a[1], static_cast<int>(how.flags), static_cast<mode_t>(how.mode), &how);
    }
    case SYS_unlinkat: return Unlink(a[0], a[1], static_cast<int>(a[2]));
    case SYS_mkdirat: return creating(a[0], a[1], true, [&](const Target& t) {
      return mkdirat(t.dir.get(), t.name.c_str(), static_cast<mode_t>(a[2]));
    });
    case SYS_mknodat: return creating(a[0], a[1], false, [&](const Target& t) {
      return mknodat(t.dir.get(), t.name.c_str(), static_cast<mode_t>(a[2]), static_cast<dev_t>(a[3]));
    });
    case SYS_fchmodat: return simple(a[0], a[1], true, Change::kMetadata, [&](const Target& t) {
      return fchmodat(t.dir.get(), t.name.c_str(), static_cast<mode_t>(a[2]), 0);
    });
    case SYS_fchownat: {
      int flags = static_cast<int>(a[4]);
      if (flags & AT_EMPTY_PATH) {
        return FdMeta(a[0], [&](int fd) {
          return fchownat(fd, "", static_cast<uid_t>(a[2]), static_cast<gid_t>(a[3]), AT_EMPTY_PATH);
        });
      }
      return simple(a[0], a[1], (flags & AT_SYMLINK_NOFOLLOW) == 0, Change::kMetadata, [&](const Target& t) {
        return fchownat(t.dir.get(), t.name.c_str(), static_cast<uid_t>(a[2]), static_cast<gid_t>(a[3]),
                        AT_SYMLINK_NOFOLLOW);
      });
    }
    case SYS_fchmod:
      return FdMeta(a[0], [&](int fd) { return chmod(proc_path(fd).c_str(), static_cast<mode_t>(a[1])); });
    case SYS_fchown:
      return FdMeta(a[0], [&](int fd) {
        return fchownat(fd, "", static_cast<uid_t>(a[1]), static_cast<gid_t>(a[2]), AT_EMPTY_PATH);
      });
    case SYS_utimensat: {
      timespec times[2];
      bool have = a[2] != 0;
      if (have && !ReadMem(a[2], times, sizeof(times)).ok()) return -EFAULT;
      int flags = static_cast<int>(a[3]);
      if (a[1] == 0) {  // futimens(fd)
        return FdMeta(a[0], [&](int fd) { return utimensat(AT_FDCWD, proc_path(fd).c_str(), have ? times : nullptr, 0); });
      }
      return simple(a[0], a[1], (flags & AT_SYMLINK_NOFOLLOW) == 0, Change::kMetadata, [&](const Target& t) {
        return utimensat(t.dir.get(), t.name.c_str(), have ? times : nullptr, AT_SYMLINK_NOFOLLOW);
      });
    }
    case SYS_truncate: {
      int64_t len = static_cast<int64_t>(a[1]);
      Result<Target> probe = Locate(AT_FDCWD, a[0], true);
      if (probe.ok() && probe->exists && S_ISDIR(probe->st.st_mode)) return -EISDIR;  // the kernel's refusals,
      if (probe.ok() && probe->exists && !S_ISREG(probe->st.st_mode)) return -EINVAL;  // before any save
      return simple(AT_FDCWD, a[0], true, Change::kContent, [&](const Target& t) {
        sys::UniqueFd f(::openat(t.dir.get(), t.name.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
        if (!f.valid()) return -1;
        return ftruncate(f.get(), len);
      });
    }
    case SYS_symlinkat:
#ifdef SYS_symlink
    case SYS_symlink:
#endif
    {
      bool is_at = req.data.nr == SYS_symlinkat;
      Result<std::string> target = ReadString(a[0]);
      if (!target.ok()) return NegErrno(target.status());
      return creating(is_at ? a[1] : AT_FDCWD, is_at ? a[2] : a[1], false,
                      [&](const Target& t) { return symlinkat(target->c_str(), t.dir.get(), t.name.c_str()); });
    }
    case SYS_linkat:
#ifdef SYS_link
    case SYS_link:
#endif
    {
      bool is_at = req.data.nr == SYS_linkat;
      int flags = is_at ? static_cast<int>(a[4]) : 0;
      sys::UniqueFd from_dir;
      std::string from_name;
      int from_flags = 0;
      // The kernel's refusals first: unknown flags, then a descriptor the
      // caller may not link.
      if ((flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)) != 0) return -EINVAL;
      if ((flags & AT_EMPTY_PATH) != 0 && !EmptyPathLinkAllowed()) return -ENOENT;
      Result<std::string> old_path = ReadString(is_at ? a[1] : a[0]);
      if (!old_path.ok()) return NegErrno(old_path.status());
      // An empty path with AT_EMPTY_PATH: the descriptor itself.
      if ((flags & AT_EMPTY_PATH) != 0 && old_path->empty()) {  // (O_TMPFILE): through its /proc link
        Result<sys::UniqueFd> f = BaseDir(a[0]);
        if (!f.ok()) return NegErrno(f.status());
        from_dir = std::move(*f);
        from_name = proc_path(from_dir.get());
        from_flags = AT_SYMLINK_FOLLOW;
      } else {
        Result<Target> from = Locate(is_at ? a[0] : AT_FDCWD, std::move(*old_path), flags & AT_SYMLINK_FOLLOW);
        if (!from.ok()) return NegErrno(from.status());
        if (!from->exists) return -ENOENT;  // the source is looked up first
        if (from->inside && root_.IsHidden(from->rel)) return -ENOENT;
        from_dir = std::move(from->dir);
        from_name = from->name;
      }
      return creating(is_at ? a[2] : AT_FDCWD, is_at ? a[3] : a[1], false, [&](const Target& t) {
        return linkat(from_flags ? AT_FDCWD : from_dir.get(), from_name.c_str(), t.dir.get(), t.name.c_str(),
                      from_flags);
      });
    }
#ifdef SYS_rename
    case SYS_rename:
#endif
#ifdef SYS_renameat
    case SYS_renameat:
#endif
    case SYS_renameat2: {
      int nr = static_cast<int>(req.data.nr);
      bool is_at = nr != SYS_renameat2 ? false : true;
#ifdef SYS_renameat
      if (nr == SYS_renameat) is_at = true;
#endif
      unsigned flags = nr == SYS_renameat2 ? static_cast<unsigned>(a[4]) : 0;
      if ((flags & RENAME_EXCHANGE) != 0 && (flags & (RENAME_NOREPLACE | RENAME_WHITEOUT)) != 0) return -EINVAL;
      // The kernel's order: both directory walks, the mounts, then each final
      // component, then the flags' and types' refusals — all before any save.
      Result<Target> from = LocateDeferred(at(is_at, a[0]), is_at ? a[1] : a[0], false, Slash::kParent);
      if (!from.ok()) return NegErrno(from.status());
      Result<Target> to = LocateDeferred(at(is_at, a[2]), is_at ? a[3] : a[1], false, Slash::kParent);
      if (!to.ok()) return NegErrno(to.status());
      if (!SameMount(from->dir.get(), to->dir.get())) return -EXDEV;
      if (from->final_err != 0) return -from->final_err;
      if (!from->exists) return -ENOENT;
      if (to->final_err != 0) return -to->final_err;
      if ((flags & RENAME_NOREPLACE) != 0 && to->exists) return -EEXIST;
      if ((flags & RENAME_EXCHANGE) != 0 && !to->exists) return -ENOENT;
      // "name/" must be a directory; without EXCHANGE a slash on either end
      // asks it of the source.
      const bool exchange = (flags & RENAME_EXCHANGE) != 0;
      if (exchange && to->slash && !S_ISDIR(to->st.st_mode)) return -ENOTDIR;
      if (!S_ISDIR(from->st.st_mode) && (from->slash || (!exchange && to->slash))) return -ENOTDIR;
      if (int64_t r = Save(*from, Change::kReplace); r != 0) return r;
      if (int64_t r = Save(*to, Change::kReplace); r != 0) return r;
      long r = syscall(SYS_renameat2, from->dir.get(), from->name.c_str(), to->dir.get(), to->name.c_str(), flags);
      return r == 0 ? 0 : -errno;
    }
    default:
      return -ENOSYS;
  }
}

int64_t Supervisor::InstallFd(uint64_t id) {
  seccomp_notif_addfd add{};
  add.id = id;
  add.srcfd = static_cast<uint32_t>(fd_.get());
  add.newfd_flags = fd_cloexec_ ? O_CLOEXEC : 0;
  if (addfd_ != AddfdMode::kInstall) {
    add.flags = SECCOMP_ADDFD_FLAG_SEND;
    if (ioctl(listener_, SECCOMP_IOCTL_NOTIF_ADDFD, &add) >= 0) return kNoAnswer;  // answered with it
    // The kernel answers only a descriptor it installed: any other failure
    // is answered here (EMFILE: the caller has no free number; ENOENT: it is
    // gone, and the answer is refused too).
    if (errno != EINVAL) return -errno;
    if (addfd_ == AddfdMode::kSend) {  // the flag was required: the call fails
      if (!told_no_send_) fprintf(stderr, "fss run: --addfd send: this kernel has no SECCOMP_ADDFD_FLAG_SEND (5.14)\n");
      told_no_send_ = true;
      return -EINVAL;
    }
    addfd_ = AddfdMode::kInstall;                    // before 5.14: install, then answer
    add.flags = 0;
  }
  int fd = ioctl(listener_, SECCOMP_IOCTL_NOTIF_ADDFD, &add);
  return fd >= 0 ? fd : -errno;
}

void Supervisor::Handle(const seccomp_notif& req) {
  ++notified_;
  pid_ = static_cast<pid_t>(req.pid);
  id_ = req.id;
  fd_ = sys::UniqueFd();
  const bool credential_call =
      std::find(std::begin(kCredentialCalls), std::end(kCredentialCalls), req.data.nr) != std::end(kCredentialCalls);
  // Before the call goes on: every later call of that process reads the
  // status afresh.
  if (credential_call) ForgetCredentials();
  int64_t r = credential_call ? INT64_MIN : ApplyUmask() ? Perform(req) : -EPERM;
  seccomp_notif_resp resp{};
  resp.id = req.id;
  if (r == INT64_MIN) {  // a credential call, or an open that changes nothing (openat2 without write intent)
    resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  } else if (r == 0 && fd_.valid()) {
    int64_t fd = InstallFd(req.id);
    if (fd == kNoAnswer) return;
    if (fd < 0) {
      r = fd;
    } else {
      resp.val = fd;
    }
  } else if (r < 0) {
    resp.error = static_cast<int32_t>(r);
  } else {
    resp.val = r;
  }
  if (r < 0) resp.error = static_cast<int32_t>(r);
  ioctl(listener_, SECCOMP_IOCTL_NOTIF_SEND, &resp);  // ENOENT: the caller died meanwhile
}

void Supervisor::AcceptPeer() {
  sys::UniqueFd sock(accept4(preload_socket_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  if (!sock.valid()) return;
  // Only this user's processes (the calls are performed with its rights);
  // a refused one gets EOF at its first request and makes its system calls.
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (peers_.size() >= kMaxPeers || getsockopt(sock.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
      cred.pid <= 0 || cred.uid != euid_ || cred.gid != egid_) {
    return;
  }
  // The peer's pidfd from the kernel (6.5); before, from its pid, which it
  // still holds unless it exited within the last few microseconds (then
  // its first request reads another process of this user: nothing it could
  // not do itself).
  int pidfd = -1;
  len = sizeof(pidfd);
  if (getsockopt(sock.get(), SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) != 0) {
    pidfd = static_cast<int>(syscall(SYS_pidfd_open, cred.pid, 0));
  }
  if (pidfd < 0) return;
  peers_.push_back(Peer{std::move(sock), cred.pid, sys::UniqueFd(pidfd)});
}

bool Supervisor::ServePeer(Peer& peer) {
  // Into private memory first; a message of any other size ends it.
  fss_preload_request q{};
  ssize_t n = sys::RetryEintr([&] { return recv(peer.sock.get(), &q, sizeof(q), MSG_DONTWAIT | MSG_TRUNC); });
  if (n < 0) return errno == EAGAIN;
  if (!fss_preload_request_ok(&q, static_cast<long>(n))) return false;
  fss_preload_reply r{};
  r.magic = FSS_PRELOAD_MAGIC;
  r.kind = FSS_PRELOAD_VALUE;
  fd_ = sys::UniqueFd();
  if (!Kept(peer.pid)) {
    // After a umask or set*id call of this process its umask and ids are
    // read per thread at every call, and a connection is a process's: the
    // program makes the system call.
    r.kind = FSS_PRELOAD_FALLBACK;
  } else {
    // The same call as its notification would be, read from the same
    // process's memory; only the check that the caller is still there
    // differs (StillWaiting).
    seccomp_notif req{};
    req.pid = static_cast<uint32_t>(peer.pid);
    req.data.nr = q.nr;
    req.data.arch = kArch;
    std::copy(std::begin(q.args), std::end(q.args), std::begin(req.data.args));
    pid_ = peer.pid;
    peer_pidfd_ = peer.pidfd.get();
    const int64_t v = ApplyUmask() ? Perform(req) : -EPERM;
    peer_pidfd_ = -1;
    ++preloaded_;
    if (q.nr == SYS_openat && v == 0 && fd_.valid()) {
      r.kind = FSS_PRELOAD_FD;
    } else {
      // An open answers with a descriptor or an error; unlinkat and
      // utimensat with 0 or an error.
      r.value = v < 0 || q.nr != SYS_openat ? v : -EIO;
    }
  }
  // The socket does not block: a peer that leaves its replies unread is dropped.
  Status sent = mapping::SendMessage(peer.sock.get(), &r, sizeof(r), r.kind == FSS_PRELOAD_FD ? fd_.get() : -1);
  fd_ = sys::UniqueFd();
  return sent.ok();
}

void Supervisor::Commit() {
  if (cp_.unsynced() == 0) return;
  if (Status s = cp_.Commit(); !s.ok()) {
    // The records are in the journal file still; the next save that must be
    // durable syncs again, and is refused should that fail too.
    fprintf(stderr, "fss run: journal sync failed: %s\n", s.ToString().c_str());
  }
}

bool Supervisor::Serve(pid_t child, int* status) {
  // The child's exit, as a pidfd (5.3) beside the listener, else a poll
  // every 100 ms.
  sys::UniqueFd child_fd(static_cast<int>(syscall(SYS_pidfd_open, child, 0)));
  bool reaped = false;
  auto reap = [&] {
    if (!reaped && sys::RetryEintr([&] { return waitpid(child, status, WNOHANG); }) == child) reaped = true;
  };
  seccomp_notif_sizes sizes{};
  if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0) sizes.seccomp_notif = sizeof(seccomp_notif);
  std::vector<char> buf(std::max<size_t>(sizes.seccomp_notif, sizeof(seccomp_notif)));
  // Group commit: records that may wait are made durable within
  // kCommitWindow of the first of them (or at kGroupRecords of them, see
  // RunUnder), and when the session ends.
  int64_t first_unsynced = 0;
  int64_t spin_until = 0;  // polling for the next peer request until then
  sys::AdaptivePoll peer_poll;
  std::vector<pollfd> fds;
  for (;;) {
    int timeout = -1;
    if (cp_.unsynced() != 0) {
      int64_t now = MonotonicNs();
      if (first_unsynced == 0) first_unsynced = now;
      int64_t left = first_unsynced + kCommitWindowNs - now;
      if (left <= 0) {
        Commit();
        first_unsynced = 0;
        continue;
      }
      timeout = static_cast<int>((left + 999999) / 1000000);
    } else {
      first_unsynced = 0;
    }
    if (!reaped && !child_fd.valid() && (timeout < 0 || timeout > 100)) timeout = 100;
    // Right after a preload request the next one is likely: poll for it a
    // while rather than sleep (a wake-up costs more than the call), giving
    // way to whatever else waits for this CPU (the caller may have been
    // woken onto it).
    if (spin_until != 0 && MonotonicNs() < spin_until) {
      timeout = 0;
      sched_yield();
    } else if (spin_until != 0) {
      peer_poll.Record(false);  // the poll ran out with no request
      spin_until = 0;
    }
    fds.resize(3 + peers_.size());
    fds[0] = {listener_, POLLIN, 0};
    fds[1] = {reaped ? -1 : child_fd.get(), POLLIN, 0};
    fds[2] = {preload_socket_.valid() ? preload_socket_.get() : -1, POLLIN, 0};
    for (size_t i = 0; i < peers_.size(); ++i) fds[3 + i] = {peers_[i].sock.get(), POLLIN, 0};
    int n = sys::RetryEintr([&] { return poll(fds.data(), fds.size(), timeout); });
    if (n < 0) break;
    if (!reaped && (fds[1].revents != 0 || !child_fd.valid())) reap();
    if (n == 0) continue;  // the window closed (committed above), or the spin goes on
    // Peers first, newest last; a connection that ends is dropped.
    bool served = false;
    for (size_t i = peers_.size(); i-- > 0;) {
      if (fds[3 + i].revents == 0) continue;
      served = true;
      if (!ServePeer(peers_[i])) peers_.erase(peers_.begin() + static_cast<std::ptrdiff_t>(i));
    }
    if (served && spin_) {
      if (spin_until != 0) peer_poll.Record(true);  // it came while polling
      const int64_t budget = std::chrono::nanoseconds(peer_poll.Budget()).count();
      spin_until = budget > 0 ? MonotonicNs() + budget : 0;
    }
    if (fds[2].revents & POLLIN) AcceptPeer();
    pollfd& p = fds[0];
    if (p.revents == 0) continue;  // only the child exited, or only peers
    if (p.revents & POLLIN) {
      memset(buf.data(), 0, buf.size());
      if (ioctl(listener_, SECCOMP_IOCTL_NOTIF_RECV, buf.data()) != 0) {
        if (errno == EINTR || errno == ENOENT) continue;
        break;
      }
      seccomp_notif req;
      memcpy(&req, buf.data(), sizeof(req));
      Handle(req);
      // Its answer may have woken the caller onto this CPU (sync wake-ups):
      // sleep next rather than poll, so that it runs at once.
      spin_until = 0;
      continue;
    }
    if (p.revents & (POLLHUP | POLLERR)) break;  // the last process of the session exited
  }
  Commit();
  return reaped;
}

// libfss-preload.so beside this program (a build tree, the test guest),
// else where it is installed relative to it (LIBDIR/rams); "" when neither
// is there, or when its path would not survive LD_PRELOAD's splitting at
// spaces and colons.
std::string FindPreloadLibrary() {
  std::vector<std::string> places;
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    std::string dir(exe, static_cast<size_t>(n));
    dir.resize(dir.rfind('/') + 1);
    places.push_back(dir + kPreloadLibrary);
#ifdef FSS_PRELOAD_RELDIR
    places.push_back(dir + FSS_PRELOAD_RELDIR + "/" + kPreloadLibrary);
#endif
  }
  for (const std::string& p : places) {
    if (p.find_first_of(" :") == std::string::npos && access(p.c_str(), R_OK) == 0) return p;
  }
  return "";
}

// The supervisor's end of the preload channel: a listening socket at a
// fresh abstract name (Linux's abstract names belong to the network
// namespace; whoever connects is checked in AcceptPeer).
Result<sys::UniqueFd> OpenPreloadSocket(std::string* name) {
  uint64_t nonce = 0;
  if (getrandom(&nonce, sizeof(nonce), 0) != sizeof(nonce)) return ErrnoError("getrandom");
  char buf[64];
  snprintf(buf, sizeof(buf), "fss-run.%d.%016llx", static_cast<int>(getpid()), static_cast<unsigned long long>(nonce));
  *name = buf;
  return mapping::ListenPager("@" + *name);
}

}  // namespace

int RunUnder(const RunOptions& o) {
  if (o.command.empty()) {
    fprintf(stderr, "fss run: no command (fss run [--root DIR] -- COMMAND...)\n");
    return 2;
  }
  // Nothing of the checkpoint in the tree: the program lists it itself.
  Result<Root> root = Root::Open(o.target.root, "");
  if (!root.ok()) {
    fprintf(stderr, "fss run: %s\n", root.status().ToString().c_str());
    return 1;
  }
  std::string area_dir = o.target.run_area;
  if (area_dir.empty()) {
    Result<std::string> def = DefaultRunArea(root->abs_path());
    if (!def.ok()) {
      fprintf(stderr, "fss run: %s\n", def.status().ToString().c_str());
      return 1;
    }
    area_dir = *def;
  }
  Result<RunArea> area = RunArea::Open(area_dir, root->abs_path(), /*create=*/true);
  if (!area.ok()) {
    fprintf(stderr, "fss run: %s\n", area.status().ToString().c_str());
    return 1;
  }
  Result<uint64_t> gen = area->NewGeneration();
  if (!gen.ok()) {
    fprintf(stderr, "fss run: %s\n", gen.status().ToString().c_str());
    return 1;
  }
  auto cp = Checkpoint::OpenAt(*root, area->fd(), RunArea::NameOf(*gen));
  if (!cp.ok()) {
    fprintf(stderr, "fss run: checkpoint: %s\n", cp.status().ToString().c_str());
    return 1;
  }
  PreloadEnv preload;
  sys::UniqueFd preload_socket;
  if (o.preload != PreloadMode::kOff) {
    preload.library = FindPreloadLibrary();
    Result<sys::UniqueFd> sock = Error(ENOENT, kPreloadLibrary);
    if (!preload.library.empty()) sock = OpenPreloadSocket(&preload.socket_name);
    if (sock.ok()) {
      preload_socket = std::move(*sock);
    } else {
      if (o.preload == PreloadMode::kOn) {
        fprintf(stderr, "fss run: --preload on: %s\n",
                preload.library.empty() ? "no libfss-preload.so beside fss or where it is installed"
                                        : sock.status().ToString().c_str());
        return 1;
      }
      preload = PreloadEnv{};
    }
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    perror("fss run: socketpair");
    return 1;
  }
  fflush(nullptr);
  pid_t child = fork();
  if (child < 0) {
    perror("fss run: fork");
    return 1;
  }
  if (child == 0) {
    close(sv[0]);
    // The run area's descriptors are the supervisor's, not the program's
    // (all are close-on-exec; these go before the program starts).
    close((*cp)->area_fd());
    close(area->fd());
    ChildMain(sv[1], o.command, preload);
  }
  close(sv[1]);
  // Neither ptrace nor /proc/PID/mem of the supervisor for the program.
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  // The listener, passed with one byte (the descriptor-passing helpers of
  // the host pager's socket serve any Unix socket).
  sys::UniqueFd listener;
  char byte = 0;
  const bool received = mapping::ReceiveMessage(sv[0], &byte, 1, &listener).ok();
  bool no_sync = false;
  if (received && listener.valid() && o.wake != WakeMode::kAny &&
      ioctl(listener.get(), SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) != 0 &&
      o.wake == WakeMode::kSync) {
    fprintf(stderr, "fss run: --wake sync: this kernel has no SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (6.6): %s\n",
            strerror(errno));
    no_sync = true;  // the child, told nothing, exits
  }
  if (!received || !listener.valid() || no_sync || write(sv[0], "k", 1) != 1) {
    close(sv[0]);
    int st = 0;
    waitpid(child, &st, 0);
    if (no_sync) return 1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
  }
  close(sv[0]);
  (*cp)->SetGroupCommit(kGroupRecords);
  Supervisor sup(*root, **cp, listener.get(), o.confine, area->path(), o.addfd, std::move(preload_socket));
  int st = 0;
  if (!sup.Serve(child, &st) && sys::RetryEintr([&] { return waitpid(child, &st, 0); }) < 0) return 1;
  if (o.stats) {
    fprintf(stderr, "fss run: calls performed: %llu notified, %llu through the preload channel\n",
            static_cast<unsigned long long>(sup.notified()), static_cast<unsigned long long>(sup.preloaded()));
  }
  if ((*cp)->records().empty()) {
    cp->reset();
    (void)area->Drop(*gen);  // nothing to undo: no generation
  } else if (isatty(2)) {
    fprintf(stderr, "fss run: changes saved as generation %llu (fss restore --generation %llu undoes them)\n",
            static_cast<unsigned long long>(*gen), static_cast<unsigned long long>(*gen));
  }
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return WEXITSTATUS(st);
}

}  // namespace rams::fss
