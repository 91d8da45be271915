// SPDX-License-Identifier: MIT
// RemoteAttachment::Map in the remote-only client (the Windows build): a
// remote mapping needs this host's pager (userfaultfd, Linux), which the
// client cannot have, so Map is ENOTSUP as for a host without a pager, and
// no MappedSegment is ever made (MappedSegment::Open is not built here).
#include <cerrno>

#include "rams/remote.h"
#include "mapping/mapped_segment.h"

namespace rams {

namespace mapping {
// RemoteAttachment's unique_ptr<MappedSegment> needs the destructor; it only
// ever destroys a null pointer here.
MappedSegment::~MappedSegment() = default;
}  // namespace mapping

Result<std::span<std::byte>> RemoteAttachment::Map() {
  return Error(ENOTSUP, "map remote segment " + info_.name +
                            ": remote mapping needs a host pager, which this client lacks");
}

// Never mapped here, so these answer as for any attachment not mapped.
Status RemoteAttachment::MappingStatus() {
  return Error(EINVAL, "mapping status of " + info_.name + ": not mapped");
}

Status RemoteAttachment::FlushMapping() {
  return Error(EINVAL, "flush mapping of " + info_.name + ": not mapped");
}

}  // namespace rams
