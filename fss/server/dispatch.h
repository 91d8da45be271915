/* SPDX-License-Identifier: MIT */
// Runs one decoded request against the FileServer for one client session,
// reading write payloads from and placing reply data into the channel's data
// area.
//
// Thread safety: as FileServer; a Session and its data area belong to one
// server thread.
#pragma once

#include <cstddef>
#include <cstdint>

#include "file_server.h"
#include "request.h"

namespace rams::fss {

// REQUIRES: `request` came from DecodeRequest with this `data_bytes`.
ReplyHeader Dispatch(FileServer& server, Session& session, const Request& request, std::byte* data,
                     uint64_t data_bytes);

}  // namespace rams::fss
