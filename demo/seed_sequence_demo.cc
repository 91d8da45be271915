// The seed's two-process sequence: process 1 writes 100 ints and holds a
// lock; process 2's write into that range is refused; process 2 locks the
// segment for N writes, writes N times, and the lock releases itself;
// process 2 reads 200 ints and checks them.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <vector>

#include "demos.h"
#include "rams/segment.h"

namespace rams::demo {
namespace {

constexpr int kInts = 200;

void Step(const char* who, const std::string& what, const std::string& result) {
  printf("  [%s] %-46s %s\n", who, what.c_str(), result.c_str());
  fflush(stdout);
}

std::string Outcome(const Status& s) { return s.ok() ? "ok" : "refused: " + s.ToString(); }

// Process 2: returns 0 when every step went as the seed says.
int ProcessTwo(const std::string& name, Backend* backend, int lease, int to_p1, int from_p1) {
  auto seg = Segment::Open(name, {}, backend);
  if (!seg.ok()) return 2;
  int32_t v = -1;
  Status refused = seg->Write(40, std::as_bytes(std::span(&v, 1)));
  Step("p2", "write 1 int into [0, 400) while p1 holds it", Outcome(refused));
  if (refused.code() != EBUSY) return 3;
  char c = 'r';
  if (write(to_p1, &c, 1) != 1 || read(from_p1, &c, 1) != 1) return 4;  // p1 unlocked
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
  printf("seed sequence: two processes, segment %s (%d ints, %s backend)\n", name.c_str(), kInts,
         std::string(backend->name()).c_str());
  auto seg = DemoSegment::Create(backend, name, kInts * sizeof(int32_t));
  if (!seg) return 1;
  std::vector<int32_t> first(100);
  for (int i = 0; i < 100; ++i) first[i] = i;
  Status w = (*seg)->Write(0, std::as_bytes(std::span(first)));
  Step("p1", "write ints 0..99", Outcome(w));
  auto lock = (*seg)->Lock(0, 400);
  Step("p1", "lock [0, 400)", lock.ok() ? "ok" : lock.status().ToString());
  if (!w.ok() || !lock.ok()) return 1;
  int to_p1[2], from_p1[2];
  if (pipe(to_p1) != 0 || pipe(from_p1) != 0) return 1;
  fflush(stdout);
  pid_t p2 = fork();
  if (p2 == 0) _exit(ProcessTwo(name, backend, lease, to_p1[1], from_p1[0]));
  char c;
  bool ok = read(to_p1[0], &c, 1) == 1;  // p2 was refused
  Status u = lock->Unlock();
  Step("p1", "unlock", Outcome(u));
  ok = ok && u.ok() && write(from_p1[1], "u", 1) == 1;
  int status = 0;
  waitpid(p2, &status, 0);
  ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  printf("  result: %s\n", ok ? "correct" : "WRONG");
  return ok ? 0 : 1;
}

}  // namespace rams::demo
