// SPDX-License-Identifier: MIT
// userfaultfd calls with feature probing (uffd.h).
#include "mapping/uffd.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include <cerrno>

namespace rams::mapping {
namespace {

constexpr int kMaxCopyAgainRetries = 100000;

int RawUserfaultfd(int flags) { return static_cast<int>(syscall(SYS_userfaultfd, flags)); }

Result<UffdFeatures> ComputeFeatures() {
  bool user_mode_only = false;
  RAMS_ASSIGN_OR_RETURN(sys::UniqueFd fd, OpenUserfaultfd(&user_mode_only));
  uffdio_api api{};
  api.api = UFFD_API;
  RAMS_RETURN_IF_ERROR(sys::SysCall("UFFDIO_API probe", [&] {
    return ioctl(fd.get(), UFFDIO_API, &api);
  }));
  UffdFeatures f;
  f.raw = api.features;
  f.user_mode_only = user_mode_only;
  f.missing_shmem = (api.features & UFFD_FEATURE_MISSING_SHMEM) != 0;
  f.wp_shmem = (api.features & UFFD_FEATURE_WP_HUGETLBFS_SHMEM) != 0 &&
               (api.ioctls & (1ULL << _UFFDIO_REGISTER)) != 0;
  f.thread_id = (api.features & UFFD_FEATURE_THREAD_ID) != 0;
  if (!f.missing_shmem) return Error(ENOTSUP, "userfaultfd on shmem (Linux >= 4.11)");
  return f;
}

}  // namespace

Result<sys::UniqueFd> OpenUserfaultfd(bool* user_mode_only) {
  *user_mode_only = false;
  const int flags = O_CLOEXEC | O_NONBLOCK;
  int fd = RawUserfaultfd(flags);
  if (fd >= 0) return sys::UniqueFd(fd);
  if (errno != EPERM) return ErrnoError("userfaultfd");
  fd = RawUserfaultfd(flags | UFFD_USER_MODE_ONLY);
  if (fd >= 0) {
    *user_mode_only = true;
    return sys::UniqueFd(fd);
  }
  // Linux 6.1: /dev/userfaultfd, governed by its file mode, gives full faults.
  sys::UniqueFd dev(sys::RetryEintr([] { return open("/dev/userfaultfd", O_RDWR | O_CLOEXEC); }));
  if (!dev.valid()) return Error(EPERM, "userfaultfd (vm.unprivileged_userfaultfd=0 and "
                                        "/dev/userfaultfd not accessible)");
  RAMS_ASSIGN_OR_RETURN(int made, sys::SysCallValue("USERFAULTFD_IOC_NEW", [&] {
    return ioctl(dev.get(), USERFAULTFD_IOC_NEW, flags);
  }));
  return sys::UniqueFd(made);
}

Result<UffdFeatures> ProbeUffdFeatures() {
  static const Result<UffdFeatures> probed = ComputeFeatures();
  return probed;
}

Status HandshakeUffd(int fd, uint64_t wanted) {
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = wanted;
  return sys::SysCall("UFFDIO_API", [&] { return ioctl(fd, UFFDIO_API, &api); });
}

Status RegisterUffd(int fd, void* addr, uint64_t len, bool wp) {
  uffdio_register reg{};
  reg.range.start = reinterpret_cast<uint64_t>(addr);
  reg.range.len = len;
  reg.mode = UFFDIO_REGISTER_MODE_MISSING | (wp ? UFFDIO_REGISTER_MODE_WP : 0);
  return sys::SysCall("UFFDIO_REGISTER", [&] { return ioctl(fd, UFFDIO_REGISTER, &reg); });
}

Status CopyPage(int fd, uint64_t dst, std::span<const std::byte> src, bool wp) {
  for (int attempt = 0; attempt < kMaxCopyAgainRetries; ++attempt) {
    uffdio_copy copy{};
    copy.dst = dst;
    copy.src = reinterpret_cast<uint64_t>(src.data());
    copy.len = src.size();
    copy.mode = wp ? UFFDIO_COPY_MODE_WP : 0;
    if (sys::RetryEintr([&] { return ioctl(fd, UFFDIO_COPY, &copy); }) == 0) return Status();
    if (errno != EAGAIN) return ErrnoError("UFFDIO_COPY");
    if (copy.copy > 0) return Status();  // the page went in before the mm changed
    sched_yield();
  }
  return Error(EAGAIN, "UFFDIO_COPY: the target mm kept changing");
}

Status WriteProtect(int fd, uint64_t addr, uint64_t len, bool protect) {
  uffdio_writeprotect wp{};
  wp.range.start = addr;
  wp.range.len = len;
  wp.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0;
  return sys::SysCall("UFFDIO_WRITEPROTECT", [&] { return ioctl(fd, UFFDIO_WRITEPROTECT, &wp); });
}

Status WakeRange(int fd, uint64_t addr, uint64_t len) {
  uffdio_range range{};
  range.start = addr;
  range.len = len;
  return sys::SysCall("UFFDIO_WAKE", [&] { return ioctl(fd, UFFDIO_WAKE, &range); });
}

}  // namespace rams::mapping
