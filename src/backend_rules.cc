// SPDX-License-Identifier: MIT
// The rules every backend shares (names, limits), on every platform; backend
// selection is backend.cc (Linux) or backend_remote_only.cc (the remote-only
// client).
#include <cerrno>
#include <cstdlib>
#include <string>

#include "rams/backend.h"

namespace rams {

Status ValidateName(std::string_view name) {
  if (name.empty()) return Error(EINVAL, "segment name is empty");
  if (name.size() > kMaxNameBytes) {
    return Error(ENAMETOOLONG, "segment name '" + std::string(name.substr(0, 16)) + "...' is " +
                                   std::to_string(name.size()) + " bytes, over the limit of " +
                                   std::to_string(kMaxNameBytes));
  }
  if (name[0] == '.') return Error(EINVAL, "segment name '" + std::string(name) + "' starts with '.'");
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) {
      std::string shown = (c == '/') ? "'/'" : (c >= 0x20 && c < 0x7f) ? std::string("'") + c + "'"
                                                                       : "a control byte";
      return Error(EINVAL, "segment name '" + std::string(name) + "' contains " + shown +
                               " (allowed: letters, digits, '.', '_', '-')");
    }
  }
  return Status();
}

uint64_t MaxSegmentBytes() {
  constexpr uint64_t kDefault = uint64_t{64} << 30;
  const char* env = getenv("RAMS_MAX_SEGMENT_BYTES");
  if (env == nullptr || *env == '\0') return kDefault;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = strtoull(env, &end, 10);
  if (errno != 0 || *end != '\0' || v == 0) return kDefault;
  return v;
}

}  // namespace rams
