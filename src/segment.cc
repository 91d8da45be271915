// SPDX-License-Identifier: MIT
#include "rams/segment.h"

#include <utility>

#if !RAMS_REMOTE_ONLY
#include "rams/wait.h"
#include "wait_ranges.h"
#endif

namespace rams {
namespace {

Result<Backend*> Choose(Backend* backend) {
  if (backend != nullptr) return backend;
  return DefaultBackend();
}

// The remote-only client (RAMS_REMOTE_ONLY, the Windows build) maps nothing
// (RemoteAttachment::Map is ENOTSUP there) and has no WaitWord, so it never
// registers a wait range.
void Unregister(const void* registered_base) {
#if !RAMS_REMOTE_ONLY
  if (registered_base != nullptr) UnregisterWaitRange(registered_base);
#else
  (void)registered_base;
#endif
}

}  // namespace

Result<Segment> Segment::Create(std::string_view name, uint64_t size_bytes, uint32_t mode,
                                bool exclusive, Backend* backend) {
  OpenOptions options;
  options.open_mode = exclusive ? OpenMode::kCreateExclusive : OpenMode::kCreate;
  options.size_bytes = size_bytes;
  options.mode = mode;
  return Open(name, options, backend);
}

Result<Segment> Segment::Open(std::string_view name, const OpenOptions& options,
                              Backend* backend) {
  RAMS_ASSIGN_OR_RETURN(Backend * b, Choose(backend));
  RAMS_ASSIGN_OR_RETURN(std::unique_ptr<Attachment> attachment, b->Open(name, options));
  return Segment(std::move(attachment));
}

Status Segment::Remove(std::string_view name, Backend* backend) {
  RAMS_ASSIGN_OR_RETURN(Backend * b, Choose(backend));
  return b->Remove(name);
}

Result<std::vector<SegmentInfo>> Segment::List(Backend* backend) {
  RAMS_ASSIGN_OR_RETURN(Backend * b, Choose(backend));
  return b->List();
}

Result<SegmentInfo> Segment::Stat(std::string_view name, Backend* backend) {
  RAMS_ASSIGN_OR_RETURN(Backend * b, Choose(backend));
  return b->Stat(name);
}

Segment::Segment(std::unique_ptr<Attachment> attachment) : attachment_(std::move(attachment)) {}

Segment::Segment(Segment&& other) noexcept
    : attachment_(std::move(other.attachment_)), registered_base_(std::exchange(other.registered_base_, nullptr)) {}

Segment& Segment::operator=(Segment&& other) noexcept {
  if (this != &other) {
    Unregister(registered_base_);
    attachment_ = std::move(other.attachment_);
    registered_base_ = std::exchange(other.registered_base_, nullptr);
  }
  return *this;
}

Segment::~Segment() { Unregister(registered_base_); }

Result<std::span<std::byte>> Segment::Map() {
  RAMS_ASSIGN_OR_RETURN(std::span<std::byte> bytes, attachment_->Map());
  // Words of posix segments use the futex directly; other backends route
  // WaitWord/WakeWord on their words to the attachment. A fork() child
  // inherits a kernel mapping and its descriptor, but not a remote mapping
  // (MADV_DONTFORK) nor a usable connection: the child drops that range.
#if !RAMS_REMOTE_ONLY
  if (registered_base_ == nullptr && info().backend != "posix" && !bytes.empty()) {
    RAMS_RETURN_IF_ERROR(info().backend == "remote"
                             ? internal::RegisterWaitRangeNotInherited(bytes.data(), bytes.size(),
                                                                       attachment_.get())
                             : RegisterWaitRange(bytes.data(), bytes.size(), attachment_.get()));
    registered_base_ = bytes.data();
  }
#endif
  return bytes;
}

Result<RangeLock> Segment::Lock(uint64_t offset, uint64_t len, const LockOptions& options) {
  bool holder_gone = false;
  LockOptions with_report = options;
  with_report.holder_gone = &holder_gone;
  RAMS_ASSIGN_OR_RETURN(LockId id, attachment_->Lock(offset, len, with_report));
  if (options.holder_gone != nullptr) *options.holder_gone = holder_gone;
  return RangeLock(attachment_.get(), id, holder_gone);
}

RangeLock::RangeLock(RangeLock&& other) noexcept
    : attachment_(std::exchange(other.attachment_, nullptr)),
      id_(other.id_),
      holder_gone_(other.holder_gone_) {}

RangeLock& RangeLock::operator=(RangeLock&& other) noexcept {
  if (this != &other) {
    if (attachment_ != nullptr) attachment_->Unlock(id_).IgnoreError();
    attachment_ = std::exchange(other.attachment_, nullptr);
    id_ = other.id_;
    holder_gone_ = other.holder_gone_;
  }
  return *this;
}

RangeLock::~RangeLock() {
  // ENOENT here just means the lease already released it.
  if (attachment_ != nullptr) attachment_->Unlock(id_).IgnoreError();
}

Result<bool> RangeLock::Held() const {
  if (attachment_ == nullptr) return false;
  return attachment_->Held(id_);
}

Status RangeLock::Unlock() {
  if (attachment_ == nullptr) return Error(ENOENT, "unlock: lock already released");
  Attachment* attachment = std::exchange(attachment_, nullptr);
  return attachment->Unlock(id_);
}

LockId RangeLock::Detach() {
  attachment_ = nullptr;
  return id_;
}

}  // namespace rams
