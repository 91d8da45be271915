/* SPDX-License-Identifier: MIT */
// CRC-32C (Castagnoli): the checksum of wire frame headers and of the FSS
// checkpoint journal.
//
// Thread safety: pure function.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rams::internal {

// CRC-32C of `len` bytes, continuing from `crc` (0 to start).
uint32_t Crc32c(const void* data, size_t len, uint32_t crc = 0);

}  // namespace rams::internal
