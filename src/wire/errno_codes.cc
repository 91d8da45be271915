// SPDX-License-Identifier: MIT
// The table of protocol status codes and the platform's errno values.
#include "wire/errno_codes.h"

#include <array>
#include <cerrno>

namespace rams::wire {
namespace {

#define RAMS_ERRNO_ENTRY(name, code) ErrnoCode{#name, code, name},
constexpr ErrnoCode kErrnoCodes[] = {
    RAMS_PROTOCOL_ERRNO_CODES(RAMS_ERRNO_ENTRY)
    // Aliases: the same protocol code as EAGAIN, EOPNOTSUPP and EDEADLK.
    ErrnoCode{"EWOULDBLOCK", 11, EWOULDBLOCK},
    ErrnoCode{"ENOTSUP", 95, ENOTSUP},
    ErrnoCode{"EDEADLOCK", 35, EDEADLOCK},
};
#undef RAMS_ERRNO_ENTRY

#ifdef __linux__
// On Linux the protocol's codes are the platform's: the mapping is the
// identity, and codes the table lacks pass through unchanged.
constexpr bool kIdentity = true;
#define RAMS_ERRNO_SAME(name, code) static_assert(name == code, #name " differs from the protocol");
RAMS_PROTOCOL_ERRNO_CODES(RAMS_ERRNO_SAME)
#undef RAMS_ERRNO_SAME
static_assert(EWOULDBLOCK == EAGAIN && ENOTSUP == EOPNOTSUPP && EDEADLOCK == EDEADLK);
#else
constexpr bool kIdentity = false;
#endif

}  // namespace

std::span<const ErrnoCode> ErrnoCodes() { return kErrnoCodes; }

int ErrnoFromWire(uint32_t wire) {
  if (wire == 0) return 0;
  for (const ErrnoCode& c : kErrnoCodes) {
    if (c.wire == wire) return c.local;
  }
  return kIdentity && wire <= INT32_MAX ? static_cast<int>(wire) : EIO;
}

uint32_t ErrnoToWire(int local) {
  if (local == 0) return 0;
  for (const ErrnoCode& c : kErrnoCodes) {
    if (c.local == local) return c.wire;
  }
  return kIdentity && local > 0 ? static_cast<uint32_t>(local) : 5;  // EIO's code
}

const char* ErrnoCodeName(int local) {
  for (const ErrnoCode& c : kErrnoCodes) {
    if (c.local == local) return c.name;
  }
  return nullptr;
}

}  // namespace rams::wire
