// SPDX-License-Identifier: MIT
// The /proc/net/tcp lookup of a loopback peer's uid: LoopbackPeerUid's
// fallback where sock_diag is missing (qemu-user answers EPROTONOSUPPORT to a
// NETLINK_SOCK_DIAG socket).
#include <netinet/in.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "peer_user.h"

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

void ScanTable(std::istream& table, const std::string& peer_end, const std::string& local_end,
               TableVerdict& verdict) {
  std::string line;
  std::getline(table, line);  // the column titles
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits;
    unsigned long long uid = 0, timeout = 0, inode = 0;
    if (!(fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
          timeout >> inode)) {
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

// Whether the file at `path` could be scanned. A missing tcp6 (a kernel
// without IPv6, `may_be_missing`) holds no sockets; any other failure is
// "cannot tell".
bool ScanFile(const std::string& path, bool may_be_missing, const std::string& peer_end,
              const std::string& local_end, TableVerdict& verdict) {
  std::ifstream table(path);
  if (!table) {
    std::error_code ec;
    return may_be_missing && !std::filesystem::exists(path, ec) && !ec;
  }
  ScanTable(table, peer_end, local_end, verdict);
  return !table.bad();
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
