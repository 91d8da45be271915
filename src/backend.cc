// SPDX-License-Identifier: MIT
// Backend selection among the local backends (posix, kernel); the rules
// every backend shares are in backend_rules.cc.
#include "rams/backend.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "kernel/kernel_backend.h"
#include "posix/posix_backend.h"

namespace rams {

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
