// fssd: listening, accepting, scheduling and the per-client channel loop.
#include "server.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <csignal>

#include <chrono>
#include <cstdarg>
#include <cstring>
#include <new>
#include <thread>

#include "channel.h"
#include "dispatch.h"
#include "rams/segment.h"

namespace rams::fss {
namespace {

void Log(const char* fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  fprintf(stderr, "fssd[%d]: %s\n", getpid(), msg);
}

// Whether the other end of a connected socket has gone (closed or died).
bool PeerGone(int sock) {
  struct pollfd p = {sock, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

constexpr auto kSlice = std::chrono::milliseconds(kSliceMs);

}  // namespace

std::string ChannelName(pid_t server_pid, uint64_t n) {
  return "fss." + std::to_string(server_pid) + "." + std::to_string(n);
}

size_t RemoveStaleChannels() {
  Result<std::vector<SegmentInfo>> all = Segment::List();
  if (!all.ok()) return 0;
  size_t removed = 0;
  for (const SegmentInfo& info : *all) {
    unsigned long pid = 0;
    if (sscanf(info.name.c_str(), "fss.%lu.", &pid) != 1 || pid == 0) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    removed += Segment::Remove(info.name).ok();
  }
  return removed;
}

std::string DefaultSocketPath(const std::string& root, const std::string& checkpoint_name) {
  return root + "/" + checkpoint_name + "/.fss.sock";
}

std::string RequestPriority() {
  struct sched_param sp = {};
  sp.sched_priority = 10;
  if (::sched_setscheduler(0, SCHED_FIFO, &sp) == 0) return "SCHED_FIFO priority 10";
  std::string why = std::string("SCHED_FIFO refused (") + strerror(errno) + ")";
  for (int nice = -20; nice <= 0; ++nice) {
    if (::setpriority(PRIO_PROCESS, 0, nice) == 0) return why + ", SCHED_OTHER nice " + std::to_string(nice);
  }
  return why + ", SCHED_OTHER nice " + std::to_string(::getpriority(PRIO_PROCESS, 0));
}

Server::~Server() {
  Stop();
  // Client threads hold references to files_: wait for them to notice.
  for (int i = 0; i < 50 && clients_.load() != 0; ++i) std::this_thread::sleep_for(kSlice);
  if (listen_fd_ >= 0) ::close(listen_fd_);
  for (int fd : stop_pipe_) {
    if (fd >= 0) ::close(fd);
  }
}

void Server::Stop() {
  stopping_.store(true);
  if (stop_pipe_[1] >= 0) {
    char b = 1;
    (void)!::write(stop_pipe_[1], &b, 1);
  }
}

Status Server::Listen() {
  socket_path_ = options_.socket_path.empty() ? DefaultSocketPath(options_.root, options_.checkpoint_name)
                                              : options_.socket_path;
  const std::string& path = socket_path_;
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return Error(ENAMETOOLONG, "socket path " + path);
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return ErrnoError("socket");
  ::unlink(path.c_str());  // a stale socket of a dead server (the area lock says none runs)
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return ErrnoError("bind " + path);
  if (::listen(listen_fd_, 128) != 0) return ErrnoError("listen " + path);
  Log("listening on %s", path.c_str());
  return Status::Ok();
}

Status Server::Run() {
  if (::pipe2(stop_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) return ErrnoError("pipe");
  RAMS_ASSIGN_OR_RETURN(Root root, Root::Open(options_.root, options_.checkpoint_name));
  root_.emplace(std::move(root));
  RAMS_ASSIGN_OR_RETURN(std::unique_ptr<Checkpoint> cp, Checkpoint::Open(*root_));
  if (cp->records().empty()) {
    Log("checkpoint %llu begins for %s", static_cast<unsigned long long>(cp->generation()), options_.root.c_str());
  } else {
    Log("continuing checkpoint %llu of %s with %zu saved paths (restore or commit to end it)",
        static_cast<unsigned long long>(cp->generation()), options_.root.c_str(), cp->records().size());
  }
  files_ = std::make_unique<FileServer>(*root_, std::move(cp));
  Log("scheduling: %s", options_.realtime ? RequestPriority().c_str() : "not requested");
  if (size_t stale = RemoveStaleChannels(); stale > 0) Log("removed %zu channels of dead servers", stale);
  RAMS_RETURN_IF_ERROR(Listen());
  while (!stopping_.load()) {
    struct pollfd p[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (::poll(p, 2, -1) < 0 && errno != EINTR) return ErrnoError("poll");
    if (!(p[0].revents & POLLIN)) continue;
    int sock = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (sock < 0) continue;
    clients_.fetch_add(1);
    std::thread([this, sock] {
      ServeClient(sock);
      ::close(sock);
      clients_.fetch_sub(1);
    }).detach();
  }
  Log("stopping");
  ::unlink(socket_path_.c_str());
  return Status::Ok();
}

void Server::ServeClient(int sock) {
  HelloReply hello = {};
  hello.magic = kChannelMagic;
  hello.version = kChannelVersion;
  struct ucred cred = {};
  socklen_t len = sizeof(cred);
  if (::getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return;
  if (!options_.allow_other_users && cred.uid != ::geteuid() && cred.uid != 0) {
    hello.error = EACCES;
  } else if (clients_.load() > options_.max_clients) {
    hello.error = EAGAIN;
  }
  std::string name = ChannelName(getpid(), next_channel_.fetch_add(1));
  Result<Segment> seg = Error(EAGAIN, "not created");
  if (hello.error == 0) {
    seg = Segment::Create(name, kChannelBytes, 0600, /*exclusive=*/true);
    if (seg.code() == EEXIST) {
      // Left by a dead process that had our pid: ours to replace.
      Segment::Remove(name).IgnoreError();
      seg = Segment::Create(name, kChannelBytes, 0600, /*exclusive=*/true);
    }
  }
  Result<std::span<std::byte>> map = Error(EAGAIN, "not mapped");
  if (seg.ok()) map = seg->Map();
  if (hello.error == 0 && !map.ok()) hello.error = map.code();
  if (hello.error != 0) {
    Log("refusing client pid %d uid %d: %s", cred.pid, cred.uid, strerror(hello.error));
    (void)!::send(sock, &hello, sizeof(hello), MSG_NOSIGNAL);
    if (seg.ok()) Segment::Remove(name).IgnoreError();
    return;
  }
  std::byte* base = map->data();
  auto* h = new (base) ChannelHeader{};
  h->magic = kChannelMagic;
  h->version = kChannelVersion;
  h->header_bytes = sizeof(ChannelHeader);
  h->path_offset = kChannelHeaderBytes;
  h->data_offset = kChannelHeaderBytes + 2 * kPathAreaBytes;
  h->data_bytes = kDataAreaBytes;
  h->server_pid = static_cast<uint32_t>(getpid());
  snprintf(hello.backend, sizeof(hello.backend), "%s", seg->info().backend.c_str());
  snprintf(hello.segment, sizeof(hello.segment), "%s", name.c_str());
  hello.segment_bytes = kChannelBytes;
  bool sent = ::send(sock, &hello, sizeof(hello), MSG_NOSIGNAL) == sizeof(hello);
  // The client attaches, then says so; the name is not needed after that.
  char ack = 0;
  struct pollfd p = {sock, POLLIN, 0};
  bool attached = sent && ::poll(&p, 1, 5000) == 1 && ::recv(sock, &ack, 1, 0) == 1;
  Segment::Remove(name).IgnoreError();
  if (!attached) return;
  Log("client pid %d uid %d connected (channel %s)", cred.pid, cred.uid, name.c_str());
  Session session(options_.limits);
  ServeChannel(sock, h, base, session);
  Log("client pid %d disconnected after %llu requests", cred.pid, static_cast<unsigned long long>(h->seq));
}

void Server::ServeChannel(int sock, ChannelHeader* h, std::byte* base, Session& session) {
  std::string_view path1(reinterpret_cast<const char*>(base + h->path_offset), kPathAreaBytes);
  std::string_view path2(reinterpret_cast<const char*>(base + h->path_offset + kPathAreaBytes), kPathAreaBytes);
  std::byte* data = base + h->data_offset;
  auto alive = [&] { return !stopping_.load() && !PeerGone(sock); };
  // Takes mu, repairing the channel after a holder's death.
  auto lock = [&]() -> bool {
    while (alive()) {
      Result<Acquired> a = h->mu.Lock(kSlice);
      if (a.code() == ETIMEDOUT) continue;
      if (!a.ok()) return false;
      if (*a == Acquired::kOwnerDied) {
        StateWord(h).store(kIdle, std::memory_order_release);
        h->mu.MarkConsistent();
      }
      return true;
    }
    return false;
  };
  if (!lock()) return;
  for (;;) {
    while (StateWord(h).load(std::memory_order_relaxed) != kRequestPending) {
      Result<CondWaitResult> w = h->request_cv.Wait(h->mu, kSlice);
      if (!w.ok() && !lock()) return;
      if (w.ok() && w->lock == Acquired::kOwnerDied) {
        StateWord(h).store(kIdle, std::memory_order_release);
        h->mu.MarkConsistent();
      }
      if (!alive()) {
        h->mu.Unlock();
        return;
      }
    }
    RequestHeader raw = h->request;  // copied out: the client may change it
    Result<Request> req = DecodeRequest(raw, path1, path2, h->data_bytes);
    h->mu.Unlock();
    ReplyHeader reply = {};
    if (req.ok()) {
      reply = Dispatch(*files_, session, *req, data, h->data_bytes);
    } else {
      reply.result = -static_cast<int64_t>(req.code());
    }
    if (!lock()) return;
    h->reply = reply;
    ++h->seq;
    // release: pairs with the client's acquire spin on the state word.
    StateWord(h).store(kReplyReady, std::memory_order_release);
    h->mu.Unlock();
    h->reply_cv.Signal();
    // A busy client sends its next request within microseconds.
    SpinUntilState(h, kRequestPending);
    if (!lock()) return;
  }
}

}  // namespace rams::fss
