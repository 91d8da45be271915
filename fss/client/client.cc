// SPDX-License-Identifier: MIT
// libfss: the C API of fss.h over the shared-memory channel (channel.h).
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>

#include "channel.h"
#include "client_call.h"
#include "sys/local_mutex.h"
#include "sys/sys.h"
#include "rams/fss.h"

struct fss_client {
  int sock = -1;
  void* map = nullptr;  // the channel, kChannelBytes
  rams::fss::ChannelHeader* h = nullptr;
  char* paths PT_GUARDED_BY(mu) = nullptr;  // two areas of kPathAreaBytes
  std::byte* data PT_GUARDED_BY(mu) = nullptr;
  uint64_t data_bytes = 0;
  uint32_t umask = 022;
  rams::sys::LocalMutex mu;  // one request in flight per connection
};

namespace {

uint32_t ReadUmask() {
  FILE* f = fopen("/proc/self/status", "r");
  unsigned value = 022;
  if (f == nullptr) return value;
  char line[256];
  while (fgets(line, sizeof(line), f) != nullptr) {
    if (sscanf(line, "Umask: %o", &value) == 1) break;
  }
  fclose(f);
  return value;
}

// Receives the server's hello and, with it, the channel's descriptor.
bool ReceiveHello(int sock, rams::fss::HelloReply* hello, rams::sys::UniqueFd* channel) {
  struct iovec iov = {hello, sizeof(*hello)};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  const ssize_t n =
      rams::sys::RetryEintr([&] { return ::recvmsg(sock, &msg, MSG_WAITALL | MSG_CMSG_CLOEXEC); });
  for (struct cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm != nullptr; cm = CMSG_NXTHDR(&msg, cm)) {
    if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS && cm->cmsg_len == CMSG_LEN(sizeof(int))) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
      channel->Reset(fd);
    }
  }
  return n == static_cast<ssize_t>(sizeof(*hello)) && (msg.msg_flags & MSG_CTRUNC) == 0;
}

bool PeerGone(int sock) {
  struct pollfd p = {sock, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

}  // namespace

namespace rams::fss {

int64_t Call(fss_client* c, const Request& req, const void* in, size_t in_len, void* out, size_t out_cap) {
  if (c == nullptr) return -EBADF;
  if (req.path.size() > kPathAreaBytes || req.path2.size() > kPathAreaBytes) return -ENAMETOOLONG;
  rams::sys::LocalMutexLock guard(c->mu);
  memcpy(c->paths, req.path.data(), req.path.size());
  memcpy(c->paths + kPathAreaBytes, req.path2.data(), req.path2.size());
  if (in_len > 0) memcpy(c->data, in, in_len);
  c->h->request = EncodeRequest(req);
  PublishState(c->h, kRequestPending);
  bool bad = false;
  if (!AwaitState(c->h, kReplyReady, [c] { return !PeerGone(c->sock); }, &bad)) return -EIO;
  ReplyHeader reply = c->h->reply;
  StateWord(c->h).store(kIdle, std::memory_order_relaxed);  // only this side reads kIdle
  if (out != nullptr && reply.result >= 0) {
    memcpy(out, c->data, std::min<uint64_t>({reply.data_bytes, out_cap, c->data_bytes}));
  }
  return reply.result;
}

uint64_t DataAreaBytes(fss_client* c) { return c == nullptr ? 0 : c->data_bytes; }
uint32_t ClientUmask(fss_client* c) { return c == nullptr ? 022 : c->umask; }

}  // namespace rams::fss

extern "C" {

fss_client* fss_connect(const char* socket_path) {
  if (socket_path == nullptr) socket_path = getenv("FSS_SOCKET");
  if (socket_path == nullptr) {
    errno = EINVAL;
    return nullptr;
  }
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (strlen(socket_path) >= sizeof(addr.sun_path)) {
    errno = ENAMETOOLONG;
    return nullptr;
  }
  strcpy(addr.sun_path, socket_path);
  auto c = std::make_unique<fss_client>();
  c->sock = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->sock < 0) return nullptr;
  auto fail = [&](int err) -> fss_client* {
    ::close(c->sock);
    errno = err;
    return nullptr;
  };
  if (::connect(c->sock, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return fail(errno);
  rams::fss::HelloReply hello = {};
  struct pollfd p = {c->sock, POLLIN, 0};
  if (::poll(&p, 1, 10000) != 1) return fail(ECONNREFUSED);
  rams::sys::UniqueFd channel;
  if (!ReceiveHello(c->sock, &hello, &channel)) return fail(ECONNREFUSED);
  if (hello.magic != rams::fss::kChannelMagic || hello.version != rams::fss::kChannelVersion) return fail(EPROTO);
  if (hello.error != 0) return fail(hello.error);
  // The server's memfd: sealed so that nobody can shrink it under us.
  struct stat st;
  int seals = channel.valid() ? ::fcntl(channel.get(), F_GET_SEALS) : -1;
  if (seals < 0 || (seals & F_SEAL_SHRINK) == 0 || ::fstat(channel.get(), &st) != 0 ||
      static_cast<uint64_t>(st.st_size) < rams::fss::kChannelBytes) {
    return fail(EPROTO);
  }
  void* map = ::mmap(nullptr, rams::fss::kChannelBytes, PROT_READ | PROT_WRITE, MAP_SHARED, channel.get(), 0);
  if (map == MAP_FAILED) return fail(errno);
  c->map = map;
  auto* h = static_cast<rams::fss::ChannelHeader*>(map);
  if (h->magic != rams::fss::kChannelMagic || h->version != rams::fss::kChannelVersion ||
      h->header_bytes != sizeof(*h) || h->path_offset != rams::fss::kPathAreaOffset ||
      h->data_offset != rams::fss::kDataAreaOffset || h->data_bytes != rams::fss::kDataAreaBytes) {
    ::munmap(map, rams::fss::kChannelBytes);
    return fail(EPROTO);
  }
  c->h = h;
  c->paths = static_cast<char*>(map) + rams::fss::kPathAreaOffset;
  c->data = static_cast<std::byte*>(map) + rams::fss::kDataAreaOffset;
  c->data_bytes = rams::fss::kDataAreaBytes;
  c->umask = ReadUmask();
  return c.release();
}

int fss_disconnect(fss_client* c) {
  if (c == nullptr) {
    errno = EBADF;
    return -1;
  }
  ::close(c->sock);
  if (c->map != nullptr) ::munmap(c->map, rams::fss::kChannelBytes);
  delete c;
  return 0;
}

}  // extern "C"
