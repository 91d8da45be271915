// SPDX-License-Identifier: MIT
#include "target.h"

#include <cerrno>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

#include "rams/remote.h"

namespace rams::cli {

Result<Backend*> ChooseBackend(const std::string& backend_name) {
  if (backend_name.empty()) return DefaultBackend();
  return BackendByName(backend_name);
}

Result<RemoteOptions> RemoteOptionsFromEnvironment() {
  RemoteOptions options;
  const char* key_file = std::getenv("RAMS_KEY_FILE");
  if (key_file != nullptr && *key_file != '\0') {
    Result<std::string> key = LoadRemoteKey(key_file);
    // A missing or bad key file is a bad argument, not "no such segment".
    if (!key.ok()) return Status(EINVAL, "RAMS_KEY_FILE: " + key.status().message());
    options.key = std::move(*key);
  }
  const char* frame_mac = std::getenv("RAMS_FRAME_MAC");
  if (frame_mac != nullptr && *frame_mac != '\0') {
    const std::string_view v = frame_mac;
    if (v == "auto") options.frame_mac = FrameMac::kAuto;
    else if (v == "require") options.frame_mac = FrameMac::kRequire;
    else if (v == "refuse") options.frame_mac = FrameMac::kRefuse;
    else return Status(EINVAL, "RAMS_FRAME_MAC '" + std::string(v) + "': want auto, require or refuse");
  }
  return options;
}

namespace {

// The kernel backend named by --backend or RAMS_BACKEND (not chosen automatically).
bool KernelBackendNamed(const std::string& backend_name) {
  if (!backend_name.empty()) return backend_name == "kernel";
  const char* forced = std::getenv("RAMS_BACKEND");
  return forced != nullptr && std::string_view(forced) == "kernel";
}

}  // namespace

Result<Segment> OpenTarget(const std::string& target, const std::string& backend_name,
                           bool read_only) {
  const bool remote = target.find('/') != std::string::npos;  // HOST:PORT/NAME; names have no '/'
  if (remote && KernelBackendNamed(backend_name)) {
    // Through /dev/rams: this host's ramsd (--kernel-channel) reaches the home.
    RAMS_ASSIGN_OR_RETURN(Backend * backend, ChooseBackend("kernel"));
    OpenOptions options;
    options.open_mode = read_only ? OpenMode::kOpenReadOnly : OpenMode::kOpen;
    return Segment::Open(target, options, backend);
  }
  if (remote) {
    RAMS_ASSIGN_OR_RETURN(RemoteAddress address, ParseRemoteAddress(target));
    RAMS_ASSIGN_OR_RETURN(RemoteOptions options, RemoteOptionsFromEnvironment());
    RAMS_ASSIGN_OR_RETURN(RemoteSession session,
                          RemoteSession::Connect(address.host, address.port, options));
    RAMS_ASSIGN_OR_RETURN(std::unique_ptr<RemoteAttachment> seg, session.Open(address.name, read_only));
    return Segment(std::move(seg));  // the segment keeps the connection
  }
  RAMS_ASSIGN_OR_RETURN(Backend * backend, ChooseBackend(backend_name));
  return Segment::Open(target, {}, backend);
}

}  // namespace rams::cli
