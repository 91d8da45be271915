// libfss: the C API of fss.h over the shared-memory channel (channel.h).
#include <fcntl.h>
#include <poll.h>
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
#include <mutex>
#include <optional>

#include "channel.h"
#include "client_call.h"
#include "rams/fss.h"
#include "rams/segment.h"

struct fss_client {
  int sock = -1;
  std::optional<rams::Segment> segment;
  rams::fss::ChannelHeader* h = nullptr;
  char* paths = nullptr;  // two areas of kPathAreaBytes
  std::byte* data = nullptr;
  uint64_t data_bytes = 0;
  uint32_t umask = 022;
  std::mutex mu;  // one request in flight per connection
};

namespace {

constexpr auto kSlice = std::chrono::milliseconds(rams::fss::kSliceMs);

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

bool PeerGone(int sock) {
  struct pollfd p = {sock, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

bool LockChannel(fss_client* c) {
  for (;;) {
    rams::Result<rams::Acquired> a = c->h->mu.Lock(kSlice);
    if (a.ok()) {
      if (*a == rams::Acquired::kOwnerDied) c->h->mu.MarkConsistent();
      return true;
    }
    if (a.code() != ETIMEDOUT || PeerGone(c->sock)) return false;
  }
}

}  // namespace

namespace rams::fss {

int64_t Call(fss_client* c, const Request& req, const void* in, size_t in_len, void* out, size_t out_cap) {
  if (c == nullptr) return -EBADF;
  if (req.path.size() > rams::fss::kPathAreaBytes || req.path2.size() > rams::fss::kPathAreaBytes) {
    return -ENAMETOOLONG;
  }
  std::lock_guard<std::mutex> guard(c->mu);
  memcpy(c->paths, req.path.data(), req.path.size());
  memcpy(c->paths + rams::fss::kPathAreaBytes, req.path2.data(), req.path2.size());
  if (in_len > 0) memcpy(c->data, in, in_len);
  if (!LockChannel(c)) return -EIO;
  c->h->request = rams::fss::EncodeRequest(req);
  // release: pairs with the server's acquire spin on the state word.
  rams::fss::StateWord(c->h).store(rams::fss::kRequestPending, std::memory_order_release);
  c->h->mu.Unlock();
  c->h->request_cv.Signal();
  rams::fss::SpinUntilState(c->h, rams::fss::kReplyReady);
  if (!LockChannel(c)) return -EIO;
  while (rams::fss::StateWord(c->h).load(std::memory_order_relaxed) != rams::fss::kReplyReady) {
    rams::Result<rams::CondWaitResult> w = c->h->reply_cv.Wait(c->h->mu, kSlice);
    if (!w.ok()) {
      if (!LockChannel(c)) return -EIO;
    } else if (w->lock == rams::Acquired::kOwnerDied) {
      c->h->mu.MarkConsistent();
    }
    if (rams::fss::StateWord(c->h).load(std::memory_order_relaxed) != rams::fss::kReplyReady && PeerGone(c->sock)) {
      c->h->mu.Unlock();
      return -EIO;
    }
  }
  rams::fss::ReplyHeader reply = c->h->reply;
  rams::fss::StateWord(c->h).store(rams::fss::kIdle, std::memory_order_release);
  c->h->mu.Unlock();
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
  if (::poll(&p, 1, 10000) != 1 || ::recv(c->sock, &hello, sizeof(hello), MSG_WAITALL) != sizeof(hello)) {
    return fail(ECONNREFUSED);
  }
  if (hello.magic != rams::fss::kChannelMagic || hello.version != rams::fss::kChannelVersion) return fail(EPROTO);
  if (hello.error != 0) return fail(hello.error);
  hello.backend[sizeof(hello.backend) - 1] = '\0';
  hello.segment[sizeof(hello.segment) - 1] = '\0';
  rams::Result<rams::Backend*> backend = rams::BackendByName(hello.backend);
  if (!backend.ok()) return fail(backend.code());
  rams::OpenOptions options;
  options.size_bytes = hello.segment_bytes;
  rams::Result<rams::Segment> seg = rams::Segment::Open(hello.segment, options, *backend);
  if (!seg.ok()) return fail(seg.code());
  c->segment.emplace(std::move(*seg));
  rams::Result<std::span<std::byte>> map = c->segment->Map();
  if (!map.ok() || map->size() < rams::fss::kChannelBytes) return fail(map.ok() ? EPROTO : map.code());
  auto* h = reinterpret_cast<rams::fss::ChannelHeader*>(map->data());
  if (h->magic != rams::fss::kChannelMagic || h->header_bytes != sizeof(*h) ||
      h->data_offset + h->data_bytes > map->size() || h->path_offset + 2 * rams::fss::kPathAreaBytes > h->data_offset) {
    return fail(EPROTO);
  }
  if (!rams::Mutex::Attach(&h->mu).ok() || !rams::CondVar::Attach(&h->request_cv).ok() ||
      !rams::CondVar::Attach(&h->reply_cv).ok()) {
    return fail(EPROTO);
  }
  c->h = h;
  c->paths = reinterpret_cast<char*>(map->data() + h->path_offset);
  c->data = map->data() + h->data_offset;
  c->data_bytes = h->data_bytes;
  c->umask = ReadUmask();
  char ack = 1;
  if (::send(c->sock, &ack, 1, MSG_NOSIGNAL) != 1) return fail(ECONNRESET);
  return c.release();
}

int fss_disconnect(fss_client* c) {
  if (c == nullptr) {
    errno = EBADF;
    return -1;
  }
  ::close(c->sock);
  delete c;
  return 0;
}

}  // extern "C"
