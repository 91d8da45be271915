// SPDX-License-Identifier: MIT
// windows-test-home: the Linux side of the Windows client tests
// (scripts/windows-test). It creates the segments of home_layout.h (posix
// backend) with their sync objects, starts a ramsd that requires the key in
// KEY_FILE and one without a key, both on 127.0.0.1, and serves a fake
// server that asks for the key and answers AUTH with a MAC made with another
// key (so the client's check of the server is tested). A third ramsd
// requires the frame MAC (--frame-mac require), and a tampering relay in front
// of it flips one bit of the first READ reply and of the first WRITE request
// of each connection, with the header CRC kept valid so that only the MAC can
// tell. It writes DIR/env (RAMS_WINDOWS_* lines for the tests), runs until
// SIGTERM or SIGINT, then stops the ramsds and removes the segments.
//
//   windows-test-home RAMSD DIR PREFIX KEY_FILE
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <fstream>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <thread>
#include <vector>

#include "home_layout.h"
#include "rams/barrier.h"
#include "rams/condvar.h"
#include "rams/mutex.h"
#include "rams/segment.h"
#include "sys/sys.h"
#include "wire/auth.h"
#include "wire/frame_mac.h"
#include "wire/messages.h"

namespace {

namespace home = rams::test::windows_home;
namespace wire = rams::wire;

static_assert(sizeof(rams::Mutex) <= home::kStride && sizeof(rams::CondVar) <= home::kStride &&
              sizeof(rams::Barrier) <= home::kStride);

// Starts ramsd with `args` on 127.0.0.1 (a port of the kernel's choice);
// returns its pid and sets *port, or -1.
pid_t StartRamsd(const std::string& ramsd, const std::string& dir, std::vector<std::string> args,
                 uint16_t* port) {
  std::filesystem::create_directories(dir);
  const std::string port_file = dir + "/port";
  std::remove(port_file.c_str());
  std::vector<std::string> argv = {ramsd, "--listen", "127.0.0.1:0", "--backend", "posix",
                                   "--log-dir", dir, "--port-file", port_file, "--no-pager"};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_t pid = fork();
  if (pid == 0) {
    // The home blocks SIGTERM to sigwait for it; ramsd must not inherit that.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    std::vector<char*> cargv;
    for (std::string& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  for (int i = 0; i < 1000; ++i) {
    std::ifstream in(port_file);
    if (in >> *port) return pid;
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGKILL);
  return -1;
}

bool ReadExactly(int fd, std::span<std::byte> out) {
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = recv(fd, out.data() + got, out.size() - got, 0);
    if (n <= 0) return false;
    got += static_cast<size_t>(n);
  }
  return true;
}

bool ReadFrame(int fd, wire::FrameHeader* h, wire::Bytes* body) {
  wire::HeaderBytes hb;
  if (!ReadExactly(fd, hb)) return false;
  auto decoded = wire::DecodeHeader(hb, wire::kMaxBodyBytes);
  if (!decoded.ok()) return false;
  *h = *decoded;
  body->resize(h->body_bytes);
  return ReadExactly(fd, *body);
}

template <class T>
void Reply(int fd, const wire::FrameHeader& request, const T& msg) {
  wire::Bytes body;
  msg.EncodeTo(&body);
  wire::Bytes frame = wire::EncodeFrame(
      {.opcode = request.opcode, .flags = wire::kFlagReply, .request_id = request.request_id}, body);
  send(fd, frame.data(), frame.size(), MSG_NOSIGNAL);
}

// One connection of the fake server: HELLO asks for the key, AUTH is
// answered with the server MAC of a key the client does not hold.
void ServeImpostor(int fd) {
  wire::FrameHeader h;
  wire::Bytes body;
  const wire::Nonce server_nonce = wire::RandomNonce();
  if (!ReadFrame(fd, &h, &body) || h.opcode != static_cast<uint8_t>(wire::Opcode::kHello)) return;
  Reply(fd, h, wire::HelloReply{.features = 0, .max_body_bytes = wire::kMaxBodyBytes,
                                .auth_flags = wire::kAuthKeyRequired, .server_nonce = server_nonce});
  if (!ReadFrame(fd, &h, &body) || h.opcode != static_cast<uint8_t>(wire::Opcode::kAuth)) return;
  auto auth = wire::AuthRequest::Decode(body);
  if (!auth.ok()) return;
  const std::string other_key(32, 'x');
  Reply(fd, h, wire::AuthReply{.server_mac = wire::ServerMac(other_key, auth->client_nonce,
                                                             server_nonce)});
  // Wait for the client to hang up.
  std::byte sink[256];
  while (recv(fd, sink, sizeof sink, 0) > 0) {
  }
}

// The tampering relay: one client connection, relayed frame by frame to the
// ramsd that requires the frame MAC on `server_port`.
class TamperRelay {
 public:
  explicit TamperRelay(int client) : client_(client) {}

  void Run(uint16_t server_port) {
    server_.Reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(server_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(server_.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return;
    std::thread up([this] { Pump(client_.get(), server_.get(), true); });
    Pump(server_.get(), client_.get(), false);
    up.join();
  }

 private:
  // Flips bit 0 of byte `at` of `frame` and fixes the header CRC.
  static void Flip(wire::Bytes& frame, size_t at) {
    frame[at] ^= std::byte{0x01};
    wire::StoreLe32(&frame[wire::kOffHeaderCrc],
                    wire::Crc32c(std::span<const std::byte>(frame).first(wire::kOffHeaderCrc)));
  }

  // Frames from `from` to `to` until either side closes. A direction's
  // frames carry a MAC trailer once the HELLO reply granted it and that
  // direction's AUTH frame has passed.
  void Pump(int from, int to, bool to_server) {
    bool mac = false, flipped = false;
    for (;;) {
      wire::Bytes frame(wire::kHeaderBytes);
      if (!ReadExactly(from, frame)) break;
      const uint32_t body_bytes = wire::LoadLe32(&frame[wire::kOffBodyBytes]);
      if (body_bytes > wire::kMaxBodyBytes) break;
      frame.resize(wire::FrameWireBytes(body_bytes, mac));
      if (!ReadExactly(from, std::span(frame).subspan(wire::kHeaderBytes))) break;
      const auto opcode = static_cast<wire::Opcode>(frame[wire::kOffOpcode]);
      const bool reply = (wire::LoadLe16(&frame[wire::kOffFlags]) & wire::kFlagReply) != 0;
      if (!to_server && reply && opcode == wire::Opcode::kHello && body_bytes >= 8) {
        mac_granted_ = (wire::LoadLe64(&frame[wire::kHeaderBytes]) & wire::kFeatureFrameMac) != 0;
      }
      if (opcode == wire::Opcode::kAuth && reply != to_server) mac = mac_granted_;
      // A data byte of the first READ reply; the first WRITE request's first
      // data byte (after its 16-byte fixed part).
      const wire::Opcode target = to_server ? wire::Opcode::kWrite : wire::Opcode::kRead;
      const size_t at = wire::kHeaderBytes + (to_server ? 16 : 3);
      if (!flipped && opcode == target && reply != to_server &&
          body_bytes > at - wire::kHeaderBytes) {
        Flip(frame, at);
        flipped = true;
      }
      if (send(to, frame.data(), frame.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(frame.size())) {
        break;
      }
    }
    shutdown(to, SHUT_RDWR);
    shutdown(from, SHUT_RDWR);
  }

  rams::sys::UniqueFd client_, server_;
  std::atomic<bool> mac_granted_{false};
};

// A socket listening on 127.0.0.1 on a port of the kernel's choice, or -1.
int ListenLoopback(uint16_t* port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(fd, 16) != 0 || getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

// Accepts connections on `listener` until it is shut down, serving each on
// a thread of its own with `serve(fd)`, which owns it.
template <class Serve>
std::thread AcceptLoop(int listener, Serve serve) {
  return std::thread([listener, serve] {
    for (;;) {
      const int c = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;  // the listener was shut down
      std::thread(serve, c).detach();
    }
  });
}

int Fail(const std::string& what) {
  fprintf(stderr, "windows-test-home: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) return Fail("usage: windows-test-home RAMSD DIR PREFIX KEY_FILE");
  const std::string ramsd = argv[1], dir = argv[2], prefix = argv[3], key_file = argv[4];
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigprocmask(SIG_BLOCK, &stop, nullptr);

  auto posix = rams::BackendByName("posix");
  if (!posix.ok()) return Fail(posix.status().ToString());
  std::vector<rams::Segment> segments;
  using Spec = std::pair<std::string_view, uint64_t>;
  for (auto [suffix, bytes] : std::initializer_list<Spec>{{home::kRw, home::kRwBytes},
                                                          {home::kRo, home::kRoBytes},
                                                          {home::kSync, home::kSyncBytes},
                                                          {home::kHidden, home::kRoBytes}}) {
    const std::string name = prefix + std::string(suffix);
    auto seg = rams::Segment::Create(name, bytes, 0600, true, *posix);
    if (!seg.ok()) return Fail(seg.status().ToString());
    auto map = seg->Map();
    if (!map.ok()) return Fail(map.status().ToString());
    if (suffix == home::kRo || suffix == home::kRw) {
      for (uint64_t i = 0; i < home::kRoBytes; ++i) (*map)[i] = std::byte{home::Pattern(i)};
    }
    if (suffix == home::kSync) {
      for (int i = 0; i < home::kMutexes; ++i) new (map->data() + home::Mutex(i)) rams::Mutex();
      for (int i = 0; i < home::kConds; ++i) new (map->data() + home::Cond(i)) rams::CondVar();
      for (int i = 0; i < home::kBarriers; ++i) {
        new (map->data() + home::Barrier(i)) rams::Barrier(2);
      }
    }
    segments.push_back(std::move(*seg));
  }
  const std::vector<std::string> exports = {"--export", prefix + home::kRw,
                                            "--export", prefix + home::kRo + ":ro",
                                            "--export", prefix + home::kSync};
  std::vector<std::string> keyed = exports;
  keyed.insert(keyed.end(), {"--key-file", key_file});
  uint16_t port = 0, open_port = 0;
  const pid_t keyed_pid = StartRamsd(ramsd, dir + "/keyed", keyed, &port);
  const pid_t open_pid = StartRamsd(ramsd, dir + "/open", exports, &open_port);

  std::vector<std::string> mac_required = keyed;
  mac_required.insert(mac_required.end(), {"--frame-mac", "require"});
  uint16_t mac_port = 0;
  const pid_t mac_pid = StartRamsd(ramsd, dir + "/mac", mac_required, &mac_port);

  // The impostor and the tampering relay: listening sockets on ports of the
  // kernel's choice.
  uint16_t impostor_port = 0, tamper_port = 0;
  rams::sys::UniqueFd listener(ListenLoopback(&impostor_port));
  rams::sys::UniqueFd tamper(ListenLoopback(&tamper_port));
  if (!listener.valid() || !tamper.valid()) {
    return Fail("listening socket: " + std::string(strerror(errno)));
  }
  std::thread impostor = AcceptLoop(listener.get(), [](int c) {
    ServeImpostor(c);
    close(c);
  });
  std::thread tamperer =
      AcceptLoop(tamper.get(), [mac_port](int c) { TamperRelay(c).Run(mac_port); });

  int rc = 0;
  if (keyed_pid < 0 || open_pid < 0 || mac_pid < 0) {
    rc = Fail("ramsd did not start (logs in " + dir + ")");
  } else {
    std::ofstream env(dir + "/env.tmp");
    env << "RAMS_WINDOWS_PREFIX=" << prefix << "\n"
        << "RAMS_WINDOWS_PORT=" << port << "\n"
        << "RAMS_WINDOWS_OPEN_PORT=" << open_port << "\n"
        << "RAMS_WINDOWS_IMPOSTOR_PORT=" << impostor_port << "\n"
        << "RAMS_WINDOWS_MAC_PORT=" << mac_port << "\n"
        << "RAMS_WINDOWS_TAMPER_PORT=" << tamper_port << "\n";
    env.close();
    std::rename((dir + "/env.tmp").c_str(), (dir + "/env").c_str());
    int sig = 0;
    sigwait(&stop, &sig);
  }
  shutdown(listener.get(), SHUT_RDWR);
  shutdown(tamper.get(), SHUT_RDWR);
  impostor.join();
  tamperer.join();
  for (pid_t pid : {keyed_pid, open_pid, mac_pid}) {
    if (pid <= 0) continue;
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) rc = Fail("ramsd ended with an error");
  }
  segments.clear();
  for (const char* suffix : {home::kRw, home::kRo, home::kSync, home::kHidden}) {
    (void)rams::Segment::Remove(prefix + suffix, *posix);
  }
  return rc;
}
