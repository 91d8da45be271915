// SPDX-License-Identifier: MIT
#include "kernel_attachment.h"

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>

#include "ioctl.h"
#include "kernel_backend.h"
#include "segment_checks.h"
#include "uapi/rams.h"

namespace rams::kernel {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

KernelAttachment::KernelAttachment(int fd, SegmentInfo info, bool read_only)
    : fd_(fd), info_(std::move(info)), read_only_(read_only) {}

KernelAttachment::~KernelAttachment() {
  if (map_ != nullptr) munmap(map_, info_.size_bytes);
}

std::string KernelAttachment::What(const char* op, uint64_t offset, uint64_t len) const {
  return std::string(op) + " " + info_.name + " [" + std::to_string(offset) + ", " +
         (len > UINT64_MAX - offset ? "overflow" : std::to_string(offset + len)) + ")";
}

Result<std::span<std::byte>> KernelAttachment::Map() {
  sys::LocalMutexLock lock(map_mu_);
  if (map_ == nullptr) {
    const int prot = read_only_ ? PROT_READ : PROT_READ | PROT_WRITE;
    void* p = mmap(nullptr, info_.size_bytes, prot, MAP_SHARED, fd_.get(), 0);
    if (p == MAP_FAILED) return ErrnoError("mmap segment " + info_.name);
    map_ = static_cast<std::byte*>(p);
  }
  return std::span<std::byte>(map_, info_.size_bytes);
}

Status KernelAttachment::Read(uint64_t offset, std::span<std::byte> out) {
  RAMS_RETURN_IF_ERROR(internal::CheckRange("read", info_, offset, out.size()));
  size_t done = 0;
  while (done < out.size()) {  // one call unless it is over the kernel's 2 GiB per call
    ssize_t n = sys::RetryEintr([&] {
      return pread(fd_.get(), out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    });
    if (n < 0) return ErrnoError(What("read", offset, out.size()));
    if (n == 0) return Error(EIO, What("read", offset, out.size()) + ": unexpected end");
    done += static_cast<size_t>(n);
  }
  return Status();
}

Status KernelAttachment::Write(uint64_t offset, std::span<const std::byte> in) {
  RAMS_RETURN_IF_ERROR(internal::CheckRange("write", info_, offset, in.size()));
  if (read_only_) return Error(EROFS, What("write", offset, in.size()) + ": attached read-only");
  size_t done = 0;
  while (done < in.size()) {
    ssize_t n = sys::RetryEintr([&] {
      return pwrite(fd_.get(), in.data() + done, in.size() - done, static_cast<off_t>(offset + done));
    });
    if (n < 0) return ErrnoError(What("write", offset, in.size()));
    done += static_cast<size_t>(n);
  }
  return Status();
}

Result<LockId> KernelAttachment::Lock(uint64_t offset, uint64_t len, const LockOptions& options) {
  RAMS_RETURN_IF_ERROR(internal::CheckLockRange(info_, offset, len));
  if (read_only_) return Error(EROFS, What("lock", offset, len) + ": attached read-only");
  const auto deadline = options.timeout ? Clock::now() + *options.timeout : Clock::time_point::max();
  rams_lock l{};
  // Retried on EINTR with the time left: the deadline stays where it was.
  int r = sys::RetryEintr([&] {
    l = rams_lock{};
    l.offset = offset;
    l.len = len;
    l.writes = options.writes;
    if (options.timeout && options.timeout->count() == 0) {
      l.flags = RAMS_LOCK_NONBLOCK;
    } else if (options.timeout) {
      auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - Clock::now());
      l.flags = RAMS_LOCK_TIMEOUT;
      l.timeout_ns = std::max<int64_t>(left.count(), 0);
    }
    return ioctl(fd_.get(), RAMS_IOC_LOCK, &l);
  });
  if (r != 0) return ErrnoError(What("lock", offset, len));
  if (options.holder_gone != nullptr) *options.holder_gone = l.result & RAMS_LOCK_HOLDER_GONE;
  return LockId{l.id};
}

Status KernelAttachment::Unlock(LockId id) {
  rams_lock_ref r{};
  r.id = id;
  if (Ioctl(fd_.get(), RAMS_IOC_UNLOCK, &r) != 0) {
    return ErrnoError("unlock " + info_.name + ": lock " + std::to_string(id));
  }
  return Status();
}

Result<bool> KernelAttachment::Held(LockId id) {
  rams_lock_ref r{};
  r.id = id;
  int held = Ioctl(fd_.get(), RAMS_IOC_LOCKED, &r);
  if (held < 0) return ErrnoError("lock state " + info_.name + ": lock " + std::to_string(id));
  return held == 1;
}

Status KernelAttachment::Wait(uint64_t offset, uint32_t expected, Timeout timeout) {
  RAMS_RETURN_IF_ERROR(internal::CheckWord("wait", info_, offset));
  rams_wait w{};
  w.offset = offset;
  w.expected = expected;
  if (timeout) {
    w.flags = RAMS_WAIT_TIMEOUT;
    w.timeout_ns = std::max<int64_t>(timeout->count(), 0);
  }
  // EINTR is the caller's to see, as with futex.
  if (ioctl(fd_.get(), RAMS_IOC_WAIT, &w) != 0) {
    int err = errno;
    return Error(err, "wait " + info_.name + " @" + std::to_string(offset));
  }
  return Status();
}

Result<uint32_t> KernelAttachment::Wake(uint64_t offset, uint32_t count) {
  RAMS_RETURN_IF_ERROR(internal::CheckWord("wake", info_, offset));
  rams_wake k{};
  k.offset = offset;
  k.count = count;
  int n = Ioctl(fd_.get(), RAMS_IOC_WAKE, &k);
  if (n < 0) return ErrnoError("wake " + info_.name + " @" + std::to_string(offset));
  return static_cast<uint32_t>(n);
}

Result<SegmentInfo> KernelAttachment::Stat() {
  rams_info k{};
  if (Ioctl(fd_.get(), RAMS_IOC_INFO, &k) != 0) return ErrnoError("stat segment " + info_.name);
  return InfoFromKernel(k);
}

}  // namespace rams::kernel
