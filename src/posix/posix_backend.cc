// SPDX-License-Identifier: MIT
#include "posix_backend.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "posix_attachment.h"
#include "sys/sys.h"
#include "process.h"

namespace rams::posix {
namespace {

constexpr char kShmDir[] = "/dev/shm";
constexpr char kFilePrefix[] = "rams.";
// How long an opener waits for a concurrent creator to finish the header.
constexpr std::chrono::seconds kInitWait{2};

int64_t NowUnixNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

SegmentInfo InfoFromStat(std::string_view name, const struct stat& st) {
  SegmentInfo info;
  info.name = std::string(name);
  info.owner_uid = st.st_uid;
  info.owner_gid = st.st_gid;
  info.mode = st.st_mode & 07777;
  info.backend = "posix";
  info.size_bytes = st.st_size > static_cast<off_t>(kHeaderBytes) ? st.st_size - kHeaderBytes : 0;
  info.created_unix_ns = int64_t{st.st_ctim.tv_sec} * 1'000'000'000 + st.st_ctim.tv_nsec;
  return info;
}

Status CheckHeader(std::string_view name, const Header& h, uint64_t file_bytes) {
  if (h.magic != kMagic || h.layout_version != kLayoutVersion || h.data_offset != kHeaderBytes ||
      h.size_bytes + kHeaderBytes != file_bytes || h.lock_capacity != kMaxRangeLocks) {
    return Error(EPROTO, "open segment " + std::string(name) +
                             ": not a rams segment of layout version " +
                             std::to_string(kLayoutVersion));
  }
  return Status();
}

// Sets up the header of a segment this process just created (fd is empty).
Result<std::unique_ptr<Attachment>> Initialize(int fd, std::string_view name,
                                                const OpenOptions& options) {
  std::string what = "create segment " + std::string(name);
  // shm_open applied the umask; the caller asked for exactly options.mode.
  if (fchmod(fd, options.mode & 07777) != 0) return ErrnoError("fchmod " + what);
  uint64_t file_bytes = options.size_bytes + kHeaderBytes;
  if (ftruncate(fd, static_cast<off_t>(file_bytes)) != 0) return ErrnoError("ftruncate " + what);
  void* map = mmap(nullptr, file_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) return ErrnoError("mmap " + what);
  auto* h = static_cast<Header*>(map);
  h->magic = kMagic;
  h->layout_version = kLayoutVersion;
  h->size_bytes = options.size_bytes;
  h->data_offset = kHeaderBytes;
  h->created_unix_ns = NowUnixNs();
  h->lock_capacity = kMaxRangeLocks;
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&h->io_mu, &attr);
  pthread_mutexattr_destroy(&attr);
  // release: pairs with the acquire loads of state in Attach and Stat.
  h->state.store(kStateReady, std::memory_order_release);

  struct stat st{};
  fstat(fd, &st);
  SegmentInfo info = InfoFromStat(name, st);
  info.created_unix_ns = h->created_unix_ns;
  return std::unique_ptr<Attachment>(new PosixAttachment(std::move(info), map, file_bytes));
}

// Maps an existing segment, waiting briefly for a concurrent creator.
// `read_only`: the data pages (after the header, which holds the io mutex
// and the lock table every attachment writes) are mapped PROT_READ.
Result<std::unique_ptr<Attachment>> Attach(int fd, std::string_view name, uint64_t want_size,
                                            bool read_only) {
  std::string what = "open segment " + std::string(name);
  const auto deadline = std::chrono::steady_clock::now() + kInitWait;
  for (;;) {
    struct stat st{};
    if (fstat(fd, &st) != 0) return ErrnoError("fstat " + what);
    auto file_bytes = static_cast<uint64_t>(st.st_size);
    if (file_bytes >= kHeaderBytes) {
      void* map = mmap(nullptr, file_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (map == MAP_FAILED) return ErrnoError("mmap " + what);
      auto* h = static_cast<Header*>(map);
      // acquire: pairs with Initialize's release store of kStateReady.
      if (h->state.load(std::memory_order_acquire) == kStateReady) {
        Status s = CheckHeader(name, *h, file_bytes);
        if (s.ok() && want_size != 0 && want_size != h->size_bytes) {
          s = Error(EINVAL, what + ": it exists with size " + std::to_string(h->size_bytes) +
                                ", not " + std::to_string(want_size));
        }
        if (s.ok() && read_only && file_bytes > kHeaderBytes &&
            mprotect(static_cast<std::byte*>(map) + kHeaderBytes, file_bytes - kHeaderBytes,
                     PROT_READ) != 0) {
          s = ErrnoError("mprotect " + what);
        }
        if (!s.ok()) {
          munmap(map, file_bytes);
          return s;
        }
        SegmentInfo info = InfoFromStat(name, st);
        info.created_unix_ns = h->created_unix_ns;
        return std::unique_ptr<Attachment>(
            new PosixAttachment(std::move(info), map, file_bytes, read_only));
      }
      munmap(map, file_bytes);
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return Error(EIO, what + ": its header was never initialized (did its creator die?)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace

std::string ShmName(std::string_view name) {
  return "/" + std::string(kFilePrefix) + std::string(name);
}

PosixBackend& Instance() {
  static PosixBackend backend;
  return backend;
}

Result<std::unique_ptr<Attachment>> PosixBackend::Open(std::string_view name,
                                                        const OpenOptions& options) {
  RAMS_RETURN_IF_ERROR(ValidateName(name));
  std::string shm = ShmName(name);
  std::string what = "open segment " + std::string(name);
  if (options.open_mode == OpenMode::kCreate || options.open_mode == OpenMode::kCreateExclusive) {
    if (options.size_bytes == 0) return Error(EINVAL, "create segment " + std::string(name) + ": size 0");
    if (options.size_bytes > MaxSegmentBytes()) {
      return Error(EFBIG, "create segment " + std::string(name) + ": size " +
                              std::to_string(options.size_bytes) + " is over the limit of " +
                              std::to_string(MaxSegmentBytes()) + " bytes (RAMS_MAX_SEGMENT_BYTES)");
    }
    if ((options.mode & ~07777u) != 0) {
      return Error(EINVAL, "create segment " + std::string(name) + ": bad mode");
    }
    int fd = shm_open(shm.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
      sys::UniqueFd closer(fd);
      auto attachment = Initialize(fd, name, options);
      if (!attachment.ok()) shm_unlink(shm.c_str());  // a failed create changes nothing
      return attachment;
    }
    if (errno != EEXIST || options.open_mode == OpenMode::kCreateExclusive) {
      return ErrnoError("create segment " + std::string(name));
    }
  }
  int fd = shm_open(shm.c_str(), O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) return ErrnoError(what);
  sys::UniqueFd closer(fd);
  return Attach(fd, name, options.size_bytes, options.open_mode == OpenMode::kOpenReadOnly);
}

Status PosixBackend::Remove(std::string_view name) {
  RAMS_RETURN_IF_ERROR(ValidateName(name));
  if (shm_unlink(ShmName(name).c_str()) != 0) {
    return ErrnoError("remove segment " + std::string(name));
  }
  return Status();
}

Result<SegmentInfo> PosixBackend::Stat(std::string_view name) {
  RAMS_RETURN_IF_ERROR(ValidateName(name));
  std::string what = "stat segment " + std::string(name);
  std::string path = std::string(kShmDir) + ShmName(name);
  struct stat st{};
  if (stat(path.c_str(), &st) != 0) return ErrnoError(what);
  SegmentInfo info = InfoFromStat(name, st);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return info;  // not readable by us: what the file system tells
  sys::UniqueFd closer(fd);
  if (static_cast<uint64_t>(st.st_size) < kHeaderBytes) return info;
  void* map = mmap(nullptr, kHeaderBytes, PROT_READ, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) return info;
  const auto* h = static_cast<const Header*>(map);
  // acquire: pairs with Initialize's release store of kStateReady.
  if (h->state.load(std::memory_order_acquire) == kStateReady &&
      CheckHeader(name, *h, st.st_size).ok()) {
    info.created_unix_ns = h->created_unix_ns;
    for (const LockEntry& e : h->locks) {
      if ((e.flags & kLockInUse) && internal::ProcessAlive(e.owner_pid, e.owner_start_time)) {
        ++info.locks_held;
      }
    }
  }
  munmap(map, kHeaderBytes);
  return info;
}

Result<std::vector<SegmentInfo>> PosixBackend::List() {
  DIR* dir = opendir(kShmDir);
  if (dir == nullptr) return ErrnoError(std::string("list segments: opendir ") + kShmDir);
  std::vector<SegmentInfo> out;
  const size_t prefix_len = strlen(kFilePrefix);
  while (dirent* d = readdir(dir)) {
    std::string_view file(d->d_name);
    if (file.substr(0, prefix_len) != kFilePrefix) continue;
    std::string_view name = file.substr(prefix_len);
    if (!ValidateName(name).ok()) continue;
    auto info = Stat(name);
    if (info.ok()) out.push_back(std::move(*info));  // else removed meanwhile
  }
  closedir(dir);
  std::sort(out.begin(), out.end(),
            [](const SegmentInfo& a, const SegmentInfo& b) { return a.name < b.name; });
  return out;
}

}  // namespace rams::posix
