// SPDX-License-Identifier: MIT
// fss run's generations, outside the root (see run_area.h).
#include "run_area.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "crc32c.h"
#include "tree_copy.h"

namespace rams::fss {
namespace {

constexpr char kRunsLock[] = ".fss.runs.lock";

// The root's path as one file name: '%' and '/' escaped; a long one keeps
// its start and gets its checksum.
std::string KeyFor(const std::string& root_abs) {
  std::string key;
  for (char c : root_abs) {
    if (c == '%') {
      key += "%25";
    } else if (c == '/') {
      key += "%2F";
    } else {
      key += c;
    }
  }
  if (key.size() <= 200) return key;
  char sum[16];
  snprintf(sum, sizeof(sum), "-%08x", internal::Crc32c(root_abs.data(), root_abs.size()));
  return key.substr(0, 150) + sum;
}

bool Within(const std::string& path, const std::string& dir) {
  if (dir == "/") return true;
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/');
}

// mkdir -p, each new directory 0700.
Status MakeDirs(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i != path.size() && path[i] != '/') continue;
    std::string prefix = path.substr(0, i);
    if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoError("create " + prefix);
  }
  return Status::Ok();
}

// The absolute, symlink-free form of `path` (which must exist up to its
// last existing ancestor; the rest is appended as written).
std::string Canonical(const std::string& path) {
  std::string head = path, tail;
  while (!head.empty()) {
    char* real = ::realpath(head.c_str(), nullptr);
    if (real != nullptr) {
      std::string out(real);
      free(real);
      return tail.empty() ? out : (out == "/" ? "" : out) + "/" + tail;
    }
    size_t slash = head.rfind('/');
    if (slash == std::string::npos) break;
    tail = head.substr(slash + 1) + (tail.empty() ? "" : "/" + tail);
    head = slash == 0 ? "/" : head.substr(0, slash);
    if (head == "/" && tail.empty()) break;
  }
  return path;
}

}  // namespace

Result<std::string> DefaultRunArea(const std::string& root_abs) {
  std::vector<std::string> bases;
  const char* state = getenv("XDG_STATE_HOME");
  const char* home = getenv("HOME");
  if (state != nullptr && state[0] == '/') bases.push_back(std::string(state) + "/fss/runs");
  if (home != nullptr && home[0] == '/') bases.push_back(std::string(home) + "/.local/state/fss/runs");
  bases.push_back("/var/tmp/fss-runs-" + std::to_string(::getuid()));
  for (const std::string& base : bases) {
    std::string canon = Canonical(base);
    if (!Within(canon, root_abs) && !Within(root_abs, canon)) return base + "/" + KeyFor(root_abs);
  }
  return Error(EINVAL, "every default place for fss run's saved copies lies inside the root " + root_abs +
                           ": give one outside it with --run-area");
}

Result<RunArea> RunArea::Open(const std::string& dir, const std::string& root_abs, bool create, bool lock_it) {
  if (dir.empty() || dir[0] != '/') return Error(EINVAL, "the run area must be an absolute path: " + dir);
  std::string canon = Canonical(dir);
  if (Within(canon, root_abs) || Within(root_abs, canon)) {
    return Error(EINVAL, "the run area " + dir + " must lie outside the root " + root_abs + " (and not contain it)");
  }
  if (create) RAMS_RETURN_IF_ERROR(MakeDirs(dir));
  sys::UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open run area " + dir);
  if (!lock_it) return RunArea(std::move(fd), sys::UniqueFd(), canon);
  sys::UniqueFd lock(::openat(fd.get(), kRunsLock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!lock.valid()) return ErrnoError("open run area lock");
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return Error(EBUSY, "the run area " + dir + " is in use (an fss run on this root?)");
    return ErrnoError("lock run area");
  }
  return RunArea(std::move(fd), std::move(lock), canon);
}

Result<std::vector<uint64_t>> RunArea::Generations() const {
  RAMS_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(fd_.get()));
  std::vector<uint64_t> out;
  for (const std::string& n : names) {
    if (n.size() < 5 || n.compare(0, 4, "gen-") != 0) continue;
    if (!std::all_of(n.begin() + 4, n.end(), [](char c) { return c >= '0' && c <= '9'; }) || n.size() > 20) continue;
    out.push_back(std::stoull(n.substr(4)));
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<uint64_t> RunArea::NewGeneration() {
  RAMS_ASSIGN_OR_RETURN(std::vector<uint64_t> gens, Generations());
  uint64_t next = gens.empty() ? 1 : gens.back() + 1;
  if (::mkdirat(fd_.get(), NameOf(next).c_str(), 0700) != 0) return ErrnoError("create generation " + NameOf(next));
  RAMS_RETURN_IF_ERROR(SyncFd(fd_.get(), "run area"));
  return next;
}

Status RunArea::Drop(uint64_t generation) {
  RAMS_RETURN_IF_ERROR(RemoveTree(fd_.get(), NameOf(generation)));
  return SyncFd(fd_.get(), "run area");
}

}  // namespace rams::fss
