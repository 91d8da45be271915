// SPDX-License-Identifier: MIT
// CRC-32C, reflected polynomial 0x82F63B78: the CPU's own instruction where
// it has one (x86-64 SSE4.2 `crc32`, the ARMv8 CRC extension), checked once
// at run time, else a table, one byte at a time.
#include "crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#elif defined(__aarch64__) && defined(__linux__)
#include <arm_acle.h>
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace rams::internal {
namespace {

constexpr std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kTable = MakeTable();

// Each takes and returns the inverted running value.
uint32_t ByTable(const unsigned char* p, size_t len, uint32_t c) {
  for (size_t i = 0; i < len; ++i) c = kTable[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t ByInstruction(const unsigned char* p, size_t len, uint32_t c) {
  uint64_t c64 = c;
  for (; len >= 8; p += 8, len -= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    c64 = _mm_crc32_u64(c64, v);
  }
  c = static_cast<uint32_t>(c64);
  for (; len > 0; ++p, --len) c = _mm_crc32_u8(c, *p);
  return c;
}

bool HaveInstruction() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
}
#elif defined(__aarch64__) && defined(__linux__)
__attribute__((target("+crc"))) uint32_t ByInstruction(const unsigned char* p, size_t len, uint32_t c) {
  for (; len >= 8; p += 8, len -= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    c = __crc32cd(c, v);
  }
  for (; len > 0; ++p, --len) c = __crc32cb(c, *p);
  return c;
}

bool HaveInstruction() { return (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0; }
#else
uint32_t ByInstruction(const unsigned char* p, size_t len, uint32_t c) { return ByTable(p, len, c); }
bool HaveInstruction() { return false; }
#endif

}  // namespace

uint32_t Crc32c(const void* data, size_t len, uint32_t crc) {
  const auto* p = static_cast<const unsigned char*>(data);
  return ~(Crc32cHasInstruction() ? ByInstruction(p, len, ~crc) : ByTable(p, len, ~crc));
}

uint32_t Crc32cByTable(const void* data, size_t len, uint32_t crc) {
  return ~ByTable(static_cast<const unsigned char*>(data), len, ~crc);
}

bool Crc32cHasInstruction() {
  static const bool instruction = HaveInstruction();
  return instruction;
}

}  // namespace rams::internal
