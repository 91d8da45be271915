// SPDX-License-Identifier: MIT
// fssd: listening, accepting, scheduling and the per-client channel loop.
#include "server.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <csignal>

#include <chrono>
#include <cstdarg>
#include <algorithm>
#include <cstring>
#include <new>
#include <thread>
#include <vector>

#include "channel.h"
#include "credentials.h"
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

uint64_t DescriptorsNeeded(const ServerOptions& options) {
  return uint64_t{options.max_clients} * (options.limits.max_open_files + kDescriptorsPerClient) +
         kDescriptorsForServer;
}

std::string RaiseDescriptorLimit(uint64_t needed) {
  struct rlimit lim;
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return std::string("getrlimit: ") + strerror(errno);
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur >= needed) {
    return "descriptor limit " + std::to_string(lim.rlim_cur) + " (" + std::to_string(needed) + " needed)";
  }
  struct rlimit want = {needed, std::max<rlim_t>(needed, lim.rlim_max)};
  if (lim.rlim_max == RLIM_INFINITY) want.rlim_max = RLIM_INFINITY;
  if (::setrlimit(RLIMIT_NOFILE, &want) == 0) {
    return "descriptor limit raised to " + std::to_string(needed);
  }
  // Without CAP_SYS_RESOURCE the hard limit is the ceiling.
  want = {lim.rlim_max, lim.rlim_max};
  if (lim.rlim_max > lim.rlim_cur && ::setrlimit(RLIMIT_NOFILE, &want) != 0) {
    return std::string("setrlimit: ") + strerror(errno);
  }
  return "WARNING: descriptor limit " + std::to_string(lim.rlim_max) + " is below the " + std::to_string(needed) +
         " that --max-clients and --max-open-files need; clients may get EMFILE";
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
  // Other users must be able to connect; SO_PEERCRED decides who is served.
  if (options_.allow_other_users && ::chmod(path.c_str(), 0666) != 0) return ErrnoError("chmod " + path);
  Log("listening on %s", path.c_str());
  return Status::Ok();
}

// Out of descriptors, a queued connection would make poll report the
// listening socket ready forever: the reserve descriptor makes room to
// accept it and tell the client why (EMFILE, not a hang or EAGAIN).
void Server::RefuseForLackOfDescriptors(int err) {
  reserve_fd_.Reset();
  sys::UniqueFd sock(::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC));
  if (sock.valid()) {
    HelloReply hello = {};
    hello.magic = kChannelMagic;
    hello.version = kChannelVersion;
    hello.error = err;
    (void)!::send(sock.get(), &hello, sizeof(hello), MSG_NOSIGNAL);
  } else {
    std::this_thread::sleep_for(kSlice);  // not even that: do not spin
  }
  sock.Reset();
  reserve_fd_.Reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  Log("refused a client: %s", strerror(err));
}

Status Server::Run() {
  RAMS_ASSIGN_OR_RETURN(server_creds_, ProcessCredentials());
  if (options_.allow_other_users && server_creds_.uid != 0) {
    return Error(EPERM, "--allow-other-users needs fssd to run as root: it performs each client's "
                        "operations with that client's credentials");
  }
  if (::pipe2(stop_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) return ErrnoError("pipe");
  reserve_fd_.Reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
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
  Log("%s", RaiseDescriptorLimit(DescriptorsNeeded(options_)).c_str());
  if (size_t stale = RemoveStaleChannels(); stale > 0) Log("removed %zu channels of dead servers", stale);
  RAMS_RETURN_IF_ERROR(Listen());
  while (!stopping_.load()) {
    struct pollfd p[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (::poll(p, 2, -1) < 0 && errno != EINTR) return ErrnoError("poll");
    if (!(p[0].revents & POLLIN)) continue;
    int sock = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (sock < 0 && (errno == EMFILE || errno == ENFILE)) {
      RefuseForLackOfDescriptors(errno);
      continue;
    }
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

namespace {

// A channel's memory: a memfd sealed against shrinking (a client that could
// truncate it would make fssd's next access SIGBUS), mapped here and handed
// to its one client over the socket (SCM_RIGHTS). It has no name, so no other
// process can open it.
class ChannelMemory {
 public:
  static Result<std::unique_ptr<ChannelMemory>> Create(const std::string& name) {
    auto m = std::make_unique<ChannelMemory>();
    m->fd_.Reset(::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!m->fd_.valid()) return ErrnoError("memfd_create");
    if (::ftruncate(m->fd_.get(), kChannelBytes) != 0) return ErrnoError("size channel");
    if (::fcntl(m->fd_.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
      return ErrnoError("seal channel");
    }
    void* p = ::mmap(nullptr, kChannelBytes, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd_.get(), 0);
    if (p == MAP_FAILED) return ErrnoError("map channel");
    m->base_ = static_cast<std::byte*>(p);
    return m;
  }
  ChannelMemory() = default;
  ~ChannelMemory() {
    if (base_ != nullptr) ::munmap(base_, kChannelBytes);
  }
  ChannelMemory(const ChannelMemory&) = delete;
  ChannelMemory& operator=(const ChannelMemory&) = delete;
  int fd() const { return fd_.get(); }
  std::byte* base() const { return base_; }

 private:
  sys::UniqueFd fd_;
  std::byte* base_ = nullptr;
};

// Sends the hello, with the channel's descriptor when fd >= 0.
bool SendHello(int sock, const HelloReply& hello, int fd) {
  struct iovec iov = {const_cast<HelloReply*>(&hello), sizeof(hello)};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  return sys::RetryEintr([&] { return ::sendmsg(sock, &msg, MSG_NOSIGNAL); }) == static_cast<ssize_t>(sizeof(hello));
}

}  // namespace

// Whether a client of `uid` may connect, and with whose credentials it acts.
int Server::Admit(const Credentials& peer, bool* foreign) const {
  *foreign = peer.uid != server_creds_.uid && peer.uid != 0;
  if (*foreign && !options_.allow_other_users) return EACCES;
  if (*foreign && server_creds_.uid != 0) return EACCES;  // cannot act as them: Run refuses this
  if (clients_.load() > options_.max_clients) return EAGAIN;
  return 0;
}

void Server::ServeClient(int sock) {
  HelloReply hello = {};
  hello.magic = kChannelMagic;
  hello.version = kChannelVersion;
  Result<Credentials> peer = PeerCredentials(sock);
  if (!peer.ok()) return;
  struct ucred cred = {};
  socklen_t len = sizeof(cred);
  if (::getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return;
  bool foreign = false;
  hello.error = Admit(*peer, &foreign);
  std::string name = ChannelName(getpid(), next_channel_.fetch_add(1));
  Result<std::unique_ptr<ChannelMemory>> mem = Error(EAGAIN, "not created");
  if (hello.error == 0) mem = ChannelMemory::Create(name);
  if (hello.error == 0 && !mem.ok()) hello.error = mem.code();  // EMFILE stays EMFILE
  if (hello.error != 0) {
    Log("refusing client pid %d uid %d: %s", cred.pid, cred.uid, strerror(hello.error));
    SendHello(sock, hello, -1);
    return;
  }
  std::byte* base = (*mem)->base();
  auto* h = new (base) ChannelHeader{};
  h->magic = kChannelMagic;
  h->version = kChannelVersion;
  h->header_bytes = sizeof(ChannelHeader);
  h->path_offset = kPathAreaOffset;  // for the client: the server never reads them back
  h->data_offset = kDataAreaOffset;
  h->data_bytes = kDataAreaBytes;
  h->server_pid = static_cast<uint32_t>(getpid());
  snprintf(hello.backend, sizeof(hello.backend), "memfd");
  snprintf(hello.segment, sizeof(hello.segment), "%s", name.c_str());
  hello.segment_bytes = kChannelBytes;
  // No handshake to wait for: the client maps the descriptor and sends requests.
  if (!SendHello(sock, hello, (*mem)->fd())) return;
  if (foreign) {
    if (Status s = ActAsClient(*peer, server_creds_); !s.ok()) {
      Log("client pid %d uid %d: cannot take its credentials: %s", cred.pid, cred.uid, s.ToString().c_str());
      return;
    }
  }
  Log("client pid %d uid %d connected (channel %s%s)", cred.pid, cred.uid, name.c_str(),
      foreign ? ", acting with its credentials" : "");
  SessionLimits limits = options_.limits;
  limits.may_commit_or_restore = !foreign;
  Session session(limits);
  uint64_t served = ServeChannel(sock, h, base, session);
  Log("client pid %d disconnected after %llu requests", cred.pid, static_cast<unsigned long long>(served));
}

uint64_t Server::ServeChannel(int sock, ChannelHeader* h, std::byte* base, Session& session) {
  // Only constants locate the areas: the header's copies are the client's to scribble.
  std::string_view path1(reinterpret_cast<const char*>(base + kPathAreaOffset), kPathAreaBytes);
  std::string_view path2(reinterpret_cast<const char*>(base + kPathAreaOffset + kPathAreaBytes), kPathAreaBytes);
  std::byte* data = base + kDataAreaOffset;
  std::vector<std::byte> input(kDataAreaBytes);  // a write's bytes, copied out first
  auto alive = [&] { return !stopping_.load() && !PeerGone(sock); };
  uint64_t served = 0;
  for (;;) {
    bool bad = false;
    if (!AwaitState(h, kRequestPending, alive, &bad)) {
      if (bad) Log("client broke the channel protocol (state word scribbled): disconnecting it");
      return served;
    }
    RequestHeader raw;
    std::memcpy(&raw, &h->request, sizeof(raw));  // copied out: the client may change it
    Result<Request> req = DecodeRequest(raw, path1, path2, kDataAreaBytes);
    ReplyHeader reply = {};
    if (req.ok()) {
      std::byte* io = data;
      if (IsInputOp(req->op)) {
        std::memcpy(input.data(), data, req->count);  // count <= kDataAreaBytes: decoded
        io = input.data();
      }
      reply = Dispatch(*files_, session, *req, io, kDataAreaBytes);
    } else {
      reply.result = -static_cast<int64_t>(req.code());
    }
    std::memcpy(&h->reply, &reply, sizeof(reply));
    h->seq = ++served;
    PublishState(h, kReplyReady);
  }
}

}  // namespace rams::fss
