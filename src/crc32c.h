/* SPDX-License-Identifier: MIT */
// CRC-32C (Castagnoli): the checksum of wire frame headers and of the FSS
// checkpoint journal.
//
// Thread safety: pure function.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rams::internal {

// CRC-32C of `len` bytes, continuing from `crc` (0 to start). With the CPU's
// CRC-32C instruction where it has one (SSE4.2, ARMv8 CRC), else a table.
uint32_t Crc32c(const void* data, size_t len, uint32_t crc = 0);

// The same by the table alone, and whether Crc32c uses the instruction (for
// the tests that compare the two).
uint32_t Crc32cByTable(const void* data, size_t len, uint32_t crc = 0);
bool Crc32cHasInstruction();

}  // namespace rams::internal
