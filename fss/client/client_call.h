/* SPDX-License-Identifier: MIT */
// libfss internals: one request/reply round trip over a client's channel.
//
// Thread safety: Call serializes on the connection; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>

#include "rams/fss.h"
#include "request.h"

namespace rams::fss {

// Sends `req` with `in_len` bytes of `in` in the data area and copies up to
// `out_cap` reply bytes into `out`. Returns the result: >= 0 or -errno (EIO
// when the server is gone). REQUIRES: in_len <= DataAreaBytes(c).
int64_t Call(fss_client* c, const Request& req, const void* in, size_t in_len, void* out, size_t out_cap);

uint64_t DataAreaBytes(fss_client* c);
// The client process's umask, applied by the server to creations.
uint32_t ClientUmask(fss_client* c);

}  // namespace rams::fss
