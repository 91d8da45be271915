// SPDX-License-Identifier: MIT
// The /proc/net/tcp lookup of a loopback peer's uid: LoopbackPeerUid's
// fallback where sock_diag is missing (qemu-user answers EPROTONOSUPPORT to a
// NETLINK_SOCK_DIAG socket).
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <charconv>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "peer_user.h"
#include "sys/sys.h"

namespace ramsd {
namespace {

using rams::Error;

// One end of a socket as /proc/net/tcp{,6} prints it: the address's 32-bit
// words in host order, each as %08X, then ':' and the port as %04X.
std::string ProcNetEnd(const asio::ip::address& address, uint16_t port) {
  std::string out;
  char word[9];
  auto append_words = [&](const auto& bytes) {
    for (size_t i = 0; i < bytes.size(); i += 4) {
      uint32_t w;
      std::memcpy(&w, bytes.data() + i, 4);
      std::snprintf(word, sizeof word, "%08" PRIX32, w);
      out += word;
    }
  };
  if (address.is_v4()) {
    append_words(address.to_v4().to_bytes());
  } else {
    append_words(address.to_v6().to_bytes());
  }
  std::snprintf(word, sizeof word, ":%04X", static_cast<unsigned>(port));
  return out + word;
}

struct Match {
  uint64_t inode = 0;
  uid_t uid = 0;
};

// What the lines of `table` whose local end is `peer_end` and remote end is
// `local_end` say: nothing (no line), a match, or "cannot tell" (a line
// without an owner, two sockets, a malformed line).
struct TableVerdict {
  std::optional<Match> match;
  bool cannot_tell = false;
};

// The next whitespace-separated field of `rest`, which is advanced past it.
std::string_view NextField(std::string_view& rest) {
  const size_t begin = rest.find_first_not_of(" \t");
  if (begin == std::string_view::npos) {
    rest = {};
    return {};
  }
  rest.remove_prefix(begin);
  const size_t end = std::min(rest.find_first_of(" \t"), rest.size());
  const std::string_view field = rest.substr(0, end);
  rest.remove_prefix(end);
  return field;
}

bool ParseDecimal(std::string_view field, unsigned long long& out) {
  if (field.empty()) return false;
  const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), out);
  return ec == std::errc() && end == field.data() + field.size();
}

// Parsed with string_views rather than streams: this runs when ramsd may be
// out of descriptors, where nothing here may need one.
void ScanTable(std::string_view table, const std::string& peer_end, const std::string& local_end,
               TableVerdict& verdict) {
  bool titles = true;
  while (!table.empty()) {
    const size_t newline = std::min(table.find('\n'), table.size());
    std::string_view rest = table.substr(0, newline);
    table.remove_prefix(std::min(newline + 1, table.size()));
    if (std::exchange(titles, false)) continue;  // the column titles
    if (rest.find_first_not_of(" \t") == std::string_view::npos) continue;
    std::string_view fields[10];
    for (std::string_view& f : fields) f = NextField(rest);
    const std::string_view local = fields[1], remote = fields[2];
    unsigned long long uid = 0, timeout = 0, inode = 0;
    if (fields[6].empty() || !ParseDecimal(fields[7], uid) || !ParseDecimal(fields[8], timeout) ||
        !ParseDecimal(fields[9], inode)) {
      verdict.cannot_tell = true;
      continue;
    }
    if (local != peer_end || remote != local_end) continue;
    // Inode 0: a TIME_WAIT or orphaned socket, whose uid column is no owner.
    if (inode == 0 || uid > static_cast<uid_t>(-1)) {
      verdict.cannot_tell = true;
      continue;
    }
    const Match m{.inode = inode, .uid = static_cast<uid_t>(uid)};
    // seq_file may print a line twice when the table changes mid-read; a
    // second socket with the same 4-tuple is another story.
    if (verdict.match && (verdict.match->inode != m.inode || verdict.match->uid != m.uid)) {
      verdict.cannot_tell = true;
    }
    verdict.match = m;
  }
}

// A table larger than this is not read (cannot tell): some 400k sockets.
constexpr size_t kMaxTableBytes = 64u << 20;

// Whether the file at `path` could be scanned. A missing tcp6 (a kernel
// without IPv6, `may_be_missing`) holds no sockets; any other failure (EMFILE
// too) is "cannot tell".
bool ScanFile(const std::string& path, bool may_be_missing, const std::string& peer_end,
              const std::string& local_end, TableVerdict& verdict) {
  rams::sys::UniqueFd fd(
      rams::sys::RetryEintr([&] { return ::open(path.c_str(), O_RDONLY | O_CLOEXEC); }));
  if (!fd.valid()) return may_be_missing && errno == ENOENT;
  std::string table;
  char chunk[16384];
  for (;;) {
    const ssize_t n = rams::sys::RetryEintr([&] { return ::read(fd.get(), chunk, sizeof chunk); });
    if (n < 0) return false;
    if (n == 0) break;
    if (table.size() + static_cast<size_t>(n) > kMaxTableBytes) return false;
    table.append(chunk, static_cast<size_t>(n));
  }
  ScanTable(table, peer_end, local_end, verdict);
  return true;
}

}  // namespace

rams::Result<uid_t> ProcNetPeerUid(const asio::ip::tcp::endpoint& local,
                                   const asio::ip::tcp::endpoint& peer,
                                   const std::string& net_dir) {
  TableVerdict verdict;
  bool read_all = true;
  // The peer's socket is in tcp6 when it is an IPv6 socket (also one that
  // connected to a v4-mapped address), in tcp when it is IPv4.
  read_all &= ScanFile(net_dir + "/tcp6", true, ProcNetEnd(peer.address(), peer.port()),
                       ProcNetEnd(local.address(), local.port()), verdict);
  std::optional<asio::ip::address_v4> peer_v4, local_v4;
  if (peer.address().is_v4()) {
    peer_v4 = peer.address().to_v4();
    local_v4 = local.address().to_v4();
  } else if (peer.address().to_v6().is_v4_mapped() && local.address().is_v6() &&
             local.address().to_v6().is_v4_mapped()) {
    peer_v4 = asio::ip::make_address_v4(asio::ip::v4_mapped, peer.address().to_v6());
    local_v4 = asio::ip::make_address_v4(asio::ip::v4_mapped, local.address().to_v6());
  }
  if (peer_v4) {
    read_all &= ScanFile(net_dir + "/tcp", false, ProcNetEnd(*peer_v4, peer.port()),
                         ProcNetEnd(*local_v4, local.port()), verdict);
  }
  if (!read_all || verdict.cannot_tell) {
    return Error(EACCES, "cannot tell the owner of the peer's socket from " + net_dir + "/tcp");
  }
  if (!verdict.match) return Error(ENOENT, net_dir + "/tcp: no such peer socket");
  return verdict.match->uid;
}

}  // namespace ramsd
