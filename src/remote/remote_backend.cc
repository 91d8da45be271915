// SPDX-License-Identifier: MIT
// RemoteBackend (the exports of one ramsd as a Backend) and address parsing.
#include <cerrno>
#include <charconv>

#include "rams/remote.h"
#include "wire/auth.h"
#include "remote/connection.h"

namespace rams {

Result<std::unique_ptr<Attachment>> RemoteBackend::Open(std::string_view name,
                                                         const OpenOptions& options) {
  if (options.open_mode == OpenMode::kCreateExclusive) {
    return Error(EPERM, "create remote segment " + std::string(name) +
                            ": segments are created on their home host");
  }
  // A read-only export opens read-only: its writes then fail with EROFS.
  const bool read_only = options.open_mode == OpenMode::kOpenReadOnly;
  Result<std::unique_ptr<RemoteAttachment>> opened = session_.Open(name, read_only);
  if (!read_only && opened.code() == EROFS) opened = session_.Open(name, true);
  RAMS_ASSIGN_OR_RETURN(std::unique_ptr<RemoteAttachment> seg, std::move(opened));
  if (options.size_bytes != 0 && options.size_bytes != seg->info().size_bytes) {
    return Error(EINVAL, "open remote segment " + std::string(name) + ": size differs");
  }
  return std::unique_ptr<Attachment>(std::move(seg));
}

Status RemoteBackend::Remove(std::string_view name) {
  return Error(EPERM, "remove remote segment " + std::string(name) +
                          ": segments are removed on their home host");
}

Result<std::vector<SegmentInfo>> RemoteBackend::List() {
  RAMS_ASSIGN_OR_RETURN(RemoteServerStat stat, session_.Stat());
  std::vector<SegmentInfo> out;
  for (const RemoteExport& e : stat.exports) {
    out.push_back({.name = e.name, .size_bytes = e.size_bytes, .backend = "remote"});
  }
  return out;
}

Result<SegmentInfo> RemoteBackend::Stat(std::string_view name) {
  RAMS_ASSIGN_OR_RETURN(std::unique_ptr<RemoteAttachment> seg, session_.Open(name, true));
  return seg->Stat();
}

Result<std::string> LoadRemoteKey(const std::string& path) { return wire::LoadKeyFile(path); }

Result<RemoteAddress> ParseRemoteAddress(std::string_view text) {
  const auto bad = [&](std::string_view why) {
    return Error(EINVAL, "address '" + std::string(text) + "': " + std::string(why) +
                             " (want HOST:PORT or HOST:PORT/NAME)");
  };
  RemoteAddress a;
  std::string_view rest = text;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    a.name = std::string(rest.substr(slash + 1));
    rest = rest.substr(0, slash);
    if (Status s = ValidateName(a.name); !s.ok()) return bad("bad segment name");
  }
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      return bad("bad [IPv6]:PORT");
    }
    a.host = std::string(rest.substr(1, close - 1));
    port = rest.substr(close + 2);
  } else {
    auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) return bad("no port");
    a.host = std::string(rest.substr(0, colon));
    port = rest.substr(colon + 1);
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (a.host.empty() || ec != std::errc() || end != port.data() + port.size() || value == 0 ||
      value > 65535) {
    return bad("bad host or port");
  }
  a.port = static_cast<uint16_t>(value);
  return a;
}

}  // namespace rams
