// SPDX-License-Identifier: MIT
#include "kernel_backend.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ioctl.h"
#include "kernel_attachment.h"
#include "sys/sys.h"

namespace rams::kernel {
namespace {

// Opens /dev/rams; the descriptor is closed when the result goes out of scope
// unless released.
sys::UniqueFd OpenDevice(int flags) {
  return sys::UniqueFd(sys::RetryEintr([&] { return open(RAMS_DEVICE_PATH, flags | O_CLOEXEC); }));
}

void CopyName(std::string_view name, char (&out)[RAMS_NAME_BYTES]) {
  std::memset(out, 0, sizeof out);
  std::memcpy(out, name.data(), std::min(name.size(), sizeof out - 1));
}

uint32_t AttachFlags(const OpenOptions& options) {
  uint32_t flags = 0;
  switch (options.open_mode) {
    case OpenMode::kOpen:
    case OpenMode::kOpenReadOnly:
      break;
    case OpenMode::kCreate:
      flags |= RAMS_ATTACH_CREATE;
      break;
    case OpenMode::kCreateExclusive:
      flags |= RAMS_ATTACH_CREATE | RAMS_ATTACH_EXCL;
      break;
  }
  return flags;
}

}  // namespace

SegmentInfo InfoFromKernel(const rams_info& k) {
  SegmentInfo info;
  info.name = std::string(k.name, strnlen(k.name, sizeof k.name));
  info.size_bytes = k.size;
  info.owner_uid = k.uid;
  info.owner_gid = k.gid;
  info.mode = k.mode;
  info.backend = "kernel";
  info.created_unix_ns = k.created_ns;
  info.locks_held = k.locks_held;
  return info;
}

Result<Backend*> Instance() {
  static KernelBackend backend;
  sys::UniqueFd dev = OpenDevice(O_RDWR);
  if (dev.get() < 0) {
    return Error(ENODEV, std::string("backend 'kernel' is not available: open " RAMS_DEVICE_PATH ": ") +
                             strerror(errno));
  }
  rams_version v{};
  if (Ioctl(dev.get(), RAMS_IOC_VERSION, &v) != 0) {
    return Error(ENODEV, std::string("backend 'kernel': RAMS_IOC_VERSION: ") + strerror(errno));
  }
  if (v.abi_version != RAMS_ABI_VERSION) {
    return Error(ENODEV, "backend 'kernel': the module speaks ABI " + std::to_string(v.abi_version) +
                             ", librams needs " + std::to_string(RAMS_ABI_VERSION));
  }
  return static_cast<Backend*>(&backend);
}

Result<std::unique_ptr<Attachment>> KernelBackend::Open(std::string_view name,
                                                         const OpenOptions& options) {
  // HOST:PORT/NAME (local names have neither ':' nor '/'); the module checks the rest.
  const bool remote = name.find(':') != name.npos && name.find('/') != name.npos;
  if (!remote) RAMS_RETURN_IF_ERROR(ValidateName(name));
  const bool create =
      options.open_mode == OpenMode::kCreate || options.open_mode == OpenMode::kCreateExclusive;
  std::string what = (create ? "create segment " : "open segment ") + std::string(name);
  if (remote && create) return Error(EINVAL, what + ": a remote segment is created at its home");
  if (remote && name.size() >= RAMS_NAME_BYTES) {
    return Error(ENAMETOOLONG, what + ": a remote name has at most " +
                                   std::to_string(RAMS_NAME_BYTES - 1) + " bytes");
  }
  if (create && options.size_bytes == 0) return Error(EINVAL, what + ": size 0");
  if (create && options.size_bytes > MaxSegmentBytes()) {
    return Error(EFBIG, what + ": size " + std::to_string(options.size_bytes) +
                            " is over the limit of " + std::to_string(MaxSegmentBytes()) +
                            " bytes (RAMS_MAX_SEGMENT_BYTES)");
  }
  sys::UniqueFd dev = OpenDevice(O_RDWR);
  if (dev.get() < 0) return ErrnoError(what + ": open " RAMS_DEVICE_PATH);
  rams_attach a{};
  CopyName(name, a.name);
  a.size = options.size_bytes;
  a.mode = options.mode;
  a.flags = AttachFlags(options);
  if (remote) {
    // Read-only: a read-only handle (a writable ATTACH of a read-only export is EROFS).
    a.flags |= RAMS_ATTACH_REMOTE |
               (options.open_mode == OpenMode::kOpenReadOnly ? RAMS_ATTACH_RDONLY : 0);
  }
  if (Ioctl(dev.get(), RAMS_IOC_ATTACH, &a) != 0) return ErrnoError(what);
  rams_info k{};
  if (Ioctl(dev.get(), RAMS_IOC_INFO, &k) != 0) return ErrnoError(what + ": RAMS_IOC_INFO");
  return std::unique_ptr<Attachment>(
      new KernelAttachment(dev.Release(), InfoFromKernel(k),
                           options.open_mode == OpenMode::kOpenReadOnly));
}

Status KernelBackend::Remove(std::string_view name) {
  RAMS_RETURN_IF_ERROR(ValidateName(name));
  sys::UniqueFd dev = OpenDevice(O_RDONLY);
  if (dev.get() < 0) return ErrnoError("remove segment " + std::string(name) + ": open " RAMS_DEVICE_PATH);
  rams_remove r{};
  CopyName(name, r.name);
  if (Ioctl(dev.get(), RAMS_IOC_REMOVE, &r) != 0) return ErrnoError("remove segment " + std::string(name));
  return Status();
}

Result<std::vector<SegmentInfo>> KernelBackend::List() {
  sys::UniqueFd dev = OpenDevice(O_RDONLY);
  if (dev.get() < 0) return ErrnoError("list segments: open " RAMS_DEVICE_PATH);
  std::vector<rams_info> entries(64);
  for (;;) {
    rams_list l{};
    l.entries = reinterpret_cast<uintptr_t>(entries.data());
    l.capacity = static_cast<uint32_t>(entries.size());
    if (Ioctl(dev.get(), RAMS_IOC_LIST, &l) != 0) return ErrnoError("list segments");
    if (l.count <= entries.size()) {
      std::vector<SegmentInfo> out;
      out.reserve(l.count);
      for (uint32_t i = 0; i < l.count; ++i) out.push_back(InfoFromKernel(entries[i]));
      return out;
    }
    entries.resize(l.count + 16);  // segments were added meanwhile: ask again
  }
}

Result<SegmentInfo> KernelBackend::Stat(std::string_view name) {
  RAMS_RETURN_IF_ERROR(ValidateName(name));
  RAMS_ASSIGN_OR_RETURN(std::vector<SegmentInfo> all, List());
  for (SegmentInfo& info : all) {
    if (info.name == name) return std::move(info);
  }
  return Error(ENOENT, "stat segment " + std::string(name) + ": no such segment");
}

}  // namespace rams::kernel
