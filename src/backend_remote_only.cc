// SPDX-License-Identifier: MIT
// Backend selection in the remote-only client (the Windows build): it has no
// local backend, so segments are reached through RemoteSession or a
// RemoteBackend passed explicitly.
#include <cerrno>
#include <string>

#include "rams/backend.h"

namespace rams {

Result<Backend*> BackendByName(std::string_view name) {
  if (name == "posix" || name == "kernel") {
    return Error(ENOTSUP, "backend '" + std::string(name) +
                              "': this is the remote-only client (use HOST:PORT/NAME)");
  }
  return Error(EINVAL, "unknown backend '" + std::string(name) + "' (known: posix, kernel)");
}

Result<Backend*> DefaultBackend() {
  return Error(ENOTSUP, "no local backend in the remote-only client (use HOST:PORT/NAME)");
}

}  // namespace rams
