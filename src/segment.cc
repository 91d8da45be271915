#include "rams/segment.h"

#include <utility>

#include "rams/wait.h"

namespace rams {
namespace {

Result<Backend*> Choose(Backend* backend) {
  if (backend != nullptr) return backend;
  return DefaultBackend();
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
  RAMS_ASSIGN_OR_RETURN(std::unique_ptr<SegmentPort> port, b->Open(name, options));
  return Segment(std::move(port));
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

Segment::Segment(std::unique_ptr<SegmentPort> port) : port_(std::move(port)) {}

Segment::Segment(Segment&& other) noexcept
    : port_(std::move(other.port_)), registered_base_(std::exchange(other.registered_base_, nullptr)) {}

Segment& Segment::operator=(Segment&& other) noexcept {
  if (this != &other) {
    if (registered_base_ != nullptr) UnregisterWaitRange(registered_base_);
    port_ = std::move(other.port_);
    registered_base_ = std::exchange(other.registered_base_, nullptr);
  }
  return *this;
}

Segment::~Segment() {
  if (registered_base_ != nullptr) UnregisterWaitRange(registered_base_);
}

Result<std::span<std::byte>> Segment::Map() {
  RAMS_ASSIGN_OR_RETURN(std::span<std::byte> bytes, port_->Map());
  // Words of posix segments use the futex directly; other backends route
  // WaitWord/WakeWord on their words to the port.
  if (registered_base_ == nullptr && info().backend != "posix" && !bytes.empty()) {
    RAMS_RETURN_IF_ERROR(RegisterWaitRange(bytes.data(), bytes.size(), port_.get()));
    registered_base_ = bytes.data();
  }
  return bytes;
}

Result<RangeLock> Segment::Lock(uint64_t offset, uint64_t len, const LockOptions& options) {
  bool holder_gone = false;
  LockOptions with_report = options;
  with_report.holder_gone = &holder_gone;
  RAMS_ASSIGN_OR_RETURN(LockId id, port_->Lock(offset, len, with_report));
  if (options.holder_gone != nullptr) *options.holder_gone = holder_gone;
  return RangeLock(port_.get(), id, holder_gone);
}

RangeLock::RangeLock(RangeLock&& other) noexcept
    : port_(std::exchange(other.port_, nullptr)), id_(other.id_), holder_gone_(other.holder_gone_) {}

RangeLock& RangeLock::operator=(RangeLock&& other) noexcept {
  if (this != &other) {
    if (port_ != nullptr) port_->Unlock(id_).IgnoreError();
    port_ = std::exchange(other.port_, nullptr);
    id_ = other.id_;
    holder_gone_ = other.holder_gone_;
  }
  return *this;
}

RangeLock::~RangeLock() {
  // ENOENT here just means the lease already released it.
  if (port_ != nullptr) port_->Unlock(id_).IgnoreError();
}

Result<bool> RangeLock::Held() const {
  if (port_ == nullptr) return false;
  return port_->IsLocked(id_);
}

Status RangeLock::Unlock() {
  if (port_ == nullptr) return Error(ENOENT, "unlock: lock already released");
  SegmentPort* port = std::exchange(port_, nullptr);
  return port->Unlock(id_);
}

LockId RangeLock::Detach() {
  port_ = nullptr;
  return id_;
}

}  // namespace rams
