/* SPDX-License-Identifier: MIT */
// The floors of the machine, measured in the same run as the figures judged
// against them: two-process ping-pongs over a raw futex, a pipe pair and a
// TCP loopback connection (the latter both sleeping in read(2) and
// busy-polling with MSG_DONTWAIT for up to 200 us before sleeping), each with a partner process that stays up across
// rounds so that a floor can be interleaved round by round with a measure.
//
// A Partner forks its echo process once, pinned to `partner_cpu` (-1: not
// pinned); RoundTrips(n) then runs n exchanges from the calling thread,
// which the caller pins. Header-only because every bench/*_bench.cc is its
// own program.
//
// Thread safety: a Partner belongs to the thread that made it.
#pragma once

#include <linux/futex.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <memory>
#include <new>

#include "measure.h"

namespace rams::bench {

// A forked echo process; `serve` runs in it until it returns.
class Partner {
 public:
  Partner(int partner_cpu, const std::function<void()>& serve) {
    pid_ = fork();
    if (pid_ == 0) {
      if (partner_cpu >= 0) PinToCpu(partner_cpu);
      serve();
      _exit(0);
    }
  }
  ~Partner() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  Partner(const Partner&) = delete;
  Partner& operator=(const Partner&) = delete;
  bool ok() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
};

// A futex word in anonymous shared memory: 0 = our turn, 1 = the partner's.
class FutexFloor {
 public:
  explicit FutexFloor(int partner_cpu)
      : word_(new (Map()) std::atomic<uint32_t>(0)),
        partner_(partner_cpu, [w = word_] { Play(w, 1, -1); }) {}
  ~FutexFloor() { munmap(word_, 4096); }
  void RoundTrips(int n) { Play(word_, 0, n); }

 private:
  static void* Map() {
    void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    return p;
  }
  static long Futex(std::atomic<uint32_t>* w, int op, uint32_t v) {
    return syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), op, v, nullptr, nullptr, 0);
  }
  // n < 0: forever (the partner).
  static void Play(std::atomic<uint32_t>* w, uint32_t me, int n) {
    for (int i = 0; n < 0 || i < n; ++i) {
      uint32_t t;
      // acquire: pairs with the other side's release store below.
      while ((t = w->load(std::memory_order_acquire)) != me) Futex(w, FUTEX_WAIT, t);
      // release: pairs with the other side's acquire load above.
      w->store(1 - me, std::memory_order_release);
      Futex(w, FUTEX_WAKE, 1);
    }
  }
  std::atomic<uint32_t>* word_;
  Partner partner_;
};

// One byte (pipes) or eight (TCP) echoed over a pair of descriptors.
class FdFloor {
 public:
  enum Kind { kPipe, kTcpSleeping, kTcpBusyPoll };
  FdFloor(Kind kind, int partner_cpu) : kind_(kind) {
    int theirs[2] = {-1, -1};
    if (kind == kPipe) {
      int a[2], b[2];
      if (pipe(a) != 0 || pipe(b) != 0) std::abort();
      mine_[0] = b[0], mine_[1] = a[1], theirs[0] = a[0], theirs[1] = b[1];
    } else {
      TcpPair(&mine_[0], &theirs[0]);
      mine_[1] = mine_[0], theirs[1] = theirs[0];
    }
    partner_ = std::make_unique<Partner>(partner_cpu, [this, theirs] {
      close(mine_[0]);
      char buf[8];
      for (;;) {
        if (!Recv(theirs[0], buf) || write(theirs[1], buf, Bytes()) != Bytes()) return;
      }
    });
    close(theirs[0]);
    if (theirs[1] != theirs[0]) close(theirs[1]);
  }
  ~FdFloor() {
    partner_.reset();
    close(mine_[0]);
    if (mine_[1] != mine_[0]) close(mine_[1]);
  }
  FdFloor(const FdFloor&) = delete;
  FdFloor& operator=(const FdFloor&) = delete;
  void RoundTrips(int n) {
    char buf[8] = {};
    for (int i = 0; i < n; ++i) {
      if (write(mine_[1], buf, Bytes()) != Bytes() || !Recv(mine_[0], buf)) std::abort();
    }
  }

 private:
  ssize_t Bytes() const { return kind_ == kPipe ? 1 : 8; }
  // Busy polling spins for up to 200 us, then sleeps in read(2) (as
  // ramsd --busy-poll-us 200 does), so that a partner left polling between
  // rounds does not take its core from the measure interleaved with it.
  bool Recv(int fd, char* buf) const {
    ssize_t got = 0;
    const uint64_t spin_until = Ticks() + uint64_t(200e-6 * TicksPerSecond());
    while (got < Bytes()) {
      const bool poll = kind_ == kTcpBusyPoll && Ticks() < spin_until;
      ssize_t r = poll ? recv(fd, buf + got, Bytes() - got, MSG_DONTWAIT)
                       : read(fd, buf + got, Bytes() - got);
      if (r == 0) return false;
      if (r < 0 && errno != EAGAIN && errno != EINTR) return false;
      if (r > 0) got += r;
    }
    return true;
  }
  // A connected loopback pair, Nagle off on both ends.
  static void TcpPair(int* client, int* server) {
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        listen(listener, 1) != 0 ||
        getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      std::abort();
    *client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(*client, reinterpret_cast<sockaddr*>(&addr), len) != 0) std::abort();
    *server = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    close(listener);
    int one = 1;
    setsockopt(*client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(*server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  Kind kind_;
  int mine_[2] = {-1, -1};  // read, write
  std::unique_ptr<Partner> partner_;
};

}  // namespace rams::bench
