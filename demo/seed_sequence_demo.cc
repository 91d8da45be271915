// SPDX-License-Identifier: MIT
// The seed's two-process sequence: process 1 writes 100 ints and holds a
// lock; process 2's write into that range is refused; process 2 locks the
// segment for N writes, writes N times, and the lock releases itself;
// process 2 reads 200 ints and checks them. The two processes take turns
// through a rams::Mutex and rams::CondVar in a companion segment
// (<name>.sync), with timeouts, so neither waits for ever on a dead peer.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <new>
#include <vector>

#include "demos.h"
#include "rams/condvar.h"
#include "rams/mutex.h"
#include "rams/segment.h"

namespace rams::demo {
namespace {

constexpr int kInts = 200;
constexpr std::chrono::seconds kPatience(10);

// Lives in the companion segment: whose turn it is.
struct Handshake {
  Mutex mu;
  CondVar changed;
  uint32_t step = 0;  // guarded by mu: kRefused, then kUnlocked
};
constexpr uint32_t kRefused = 1;   // p2's write was refused
constexpr uint32_t kUnlocked = 2;  // p1 released its lock

// Locks h->mu, accepting (and repairing nothing for) a dead previous holder:
// `step` is a single word, always consistent.
bool LockHandshake(Handshake* h) {
  auto r = h->mu.Lock(kPatience);
  if (!r.ok()) return false;
  if (*r == Acquired::kOwnerDied) h->mu.MarkConsistent();
  return true;
}

bool Advance(Handshake* h, uint32_t step) {
  if (!LockHandshake(h)) return false;
  h->step = step;
  h->mu.Unlock();
  h->changed.Broadcast();
  return true;
}

// Waits (kPatience at most) until the other process has reached `step`.
bool AwaitStep(Handshake* h, uint32_t step) {
  if (!LockHandshake(h)) return false;
  auto r = h->changed.Wait(h->mu, kPatience, [&] { return h->step >= step; });
  if (!r.ok()) return false;
  if (r->lock == Acquired::kOwnerDied) h->mu.MarkConsistent();
  bool reached = h->step >= step;
  h->mu.Unlock();
  return reached;
}

Result<Handshake*> MapHandshake(Segment& sync) {
  RAMS_ASSIGN_OR_RETURN(std::span<std::byte> bytes, sync.Map());
  return std::launder(reinterpret_cast<Handshake*>(bytes.data()));
}

void Step(const char* who, const std::string& what, const std::string& result) {
  printf("  [%s] %-46s %s\n", who, what.c_str(), result.c_str());
  fflush(stdout);
}

std::string Outcome(const Status& s) { return s.ok() ? "ok" : "refused: " + s.ToString(); }

// Process 2: returns 0 when every step went as the seed says.
int ProcessTwo(const std::string& name, Backend* backend, int lease) {
  auto seg = Segment::Open(name, {}, backend);
  auto sync = Segment::Open(name + ".sync", {}, backend);
  if (!seg.ok() || !sync.ok()) return 2;
  auto handshake = MapHandshake(*sync);
  if (!handshake.ok()) return 2;
  int32_t v = -1;
  Status refused = seg->Write(40, std::as_bytes(std::span(&v, 1)));
  Step("p2", "write 1 int into [0, 400) while p1 holds it", Outcome(refused));
  if (refused.code() != EBUSY) return 3;
  if (!Advance(*handshake, kRefused) || !AwaitStep(*handshake, kUnlocked)) return 4;
  LockOptions opts;
  opts.writes = static_cast<uint32_t>(lease);
  auto lock = seg->Lock(0, seg->size(), opts);
  Step("p2", "lock the whole segment for " + std::to_string(lease) + " writes",
       lock.ok() ? "ok" : lock.status().ToString());
  if (!lock.ok()) return 5;
  // Ints 100..199 in `lease` writes.
  for (int w = 0; w < lease; ++w) {
    int begin = 100 + 100 * w / lease, end = 100 + 100 * (w + 1) / lease;
    std::vector<int32_t> part;
    for (int i = begin; i < end; ++i) part.push_back(1000 + i);
    Status s = seg->Write(uint64_t(begin) * 4, std::as_bytes(std::span(part)));
    bool held = lock->Held().ok() && *lock->Held();
    Step("p2", "write ints " + std::to_string(begin) + ".." + std::to_string(end - 1),
         Outcome(s) + (held ? " (lock still held)" : " (lock released itself)"));
    if (!s.ok() || held != (w + 1 < lease)) return 6;
  }
  std::vector<int32_t> all(kInts);
  Status s = seg->Read(0, std::as_writable_bytes(std::span(all)));
  int bad = 0;
  for (int i = 0; i < kInts && s.ok(); ++i) bad += all[i] != (i < 100 ? i : 1000 + i);
  Step("p2", "read 200 ints", s.ok() ? (bad == 0 ? "ok: exactly as expected" : "WRONG contents")
                                      : s.ToString());
  return s.ok() && bad == 0 ? 0 : 7;
}

}  // namespace

int RunSeedSequenceDemo(Backend* backend, int lease) {
  std::string name = "rams-demo-seed-" + std::to_string(getpid());
  printf("seed sequence: two processes, segment %s (%d ints, %s backend); they take turns\n"
         "  through a rams::Mutex and rams::CondVar in %s.sync\n",
         name.c_str(), kInts, std::string(backend->name()).c_str(), name.c_str());
  auto seg = DemoSegment::Create(backend, name, kInts * sizeof(int32_t));
  auto sync = DemoSegment::Create(backend, name + ".sync", 4096);
  if (!seg || !sync) return 1;
  auto mapped = MapHandshake(**sync);
  if (!mapped.ok()) return 1;
  Handshake* handshake = new (*mapped) Handshake();
  std::vector<int32_t> first(100);
  for (int i = 0; i < 100; ++i) first[i] = i;
  Status w = (*seg)->Write(0, std::as_bytes(std::span(first)));
  Step("p1", "write ints 0..99", Outcome(w));
  auto lock = (*seg)->Lock(0, 400);
  Step("p1", "lock [0, 400)", lock.ok() ? "ok" : lock.status().ToString());
  if (!w.ok() || !lock.ok()) return 1;
  fflush(stdout);
  pid_t p2 = fork();
  if (p2 == 0) _exit(ProcessTwo(name, backend, lease));
  bool ok = AwaitStep(handshake, kRefused);
  Status u = lock->Unlock();
  Step("p1", "unlock", Outcome(u));
  ok = ok && u.ok() && Advance(handshake, kUnlocked);
  int status = 0;
  waitpid(p2, &status, 0);
  ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  printf("  result: %s\n", ok ? "correct" : "WRONG");
  return ok ? 0 : 1;
}

}  // namespace rams::demo
