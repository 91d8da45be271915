// SPDX-License-Identifier: MIT
// Backend selection, and the rules every backend shares (names, limits).
#include "rams/backend.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "kernel/kernel_backend.h"
#include "posix/posix_backend.h"

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

Result<Backend*> BackendByName(std::string_view name) {
  if (name == "posix") return static_cast<Backend*>(&posix::Instance());
  if (name == "kernel") return kernel::Instance();
  return Error(EINVAL, "unknown backend '" + std::string(name) + "' (known: posix, kernel)");
}

Result<Backend*> DefaultBackend() {
  const char* forced = getenv("RAMS_BACKEND");
  if (forced != nullptr && *forced != '\0') return BackendByName(forced);
  if (access("/dev/rams", R_OK | W_OK) == 0) {
    auto kernel = BackendByName("kernel");
    if (kernel.ok()) return kernel;
  }
  return BackendByName("posix");
}

}  // namespace rams
