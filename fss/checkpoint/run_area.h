/* SPDX-License-Identifier: MIT */
// rams::fss::RunArea: where `fss run` keeps what it saved, outside the root
// (the program lists and reads directories itself, so an area in the tree
// would be visible to it). One directory per root, holding one checkpoint
// area per run: gen-1/, gen-2/, ... (a "generation"), each with its own
// journal and saved copies, so each run can be undone on its own. The
// directory's lock (.fss.runs.lock, flock) is held by a running `fss run` and
// by restore and commit, so generations never change under each other.
//
// The default place is $XDG_STATE_HOME/fss/runs/<root>, else
// ~/.local/state/fss/runs/<root>, else (no home, or one inside the root)
// /var/tmp/fss-runs-<uid>/<root>, where <root> is the root's absolute path
// with '%' and '/' written %25 and %2F.
//
// Thread safety: one RunArea per process and root; not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fd.h"
#include "rams/status.h"

namespace rams::fss {

// The default runs directory for the root at absolute path `root_abs`; EINVAL
// when every candidate lies inside the root (give one with --run-area).
Result<std::string> DefaultRunArea(const std::string& root_abs);

class RunArea {
 public:
  // Opens (with `create`, making it and its parents) the runs directory
  // `dir` of the root at `root_abs` and, with `lock`, takes its lock: EBUSY
  // when another process holds it, ENOENT without `create` when there is
  // none, EINVAL when `dir` lies inside the root or the root inside it.
  static Result<RunArea> Open(const std::string& dir, const std::string& root_abs, bool create, bool lock = true);

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  // The generations present, oldest first.
  Result<std::vector<uint64_t>> Generations() const;
  // Creates the next generation's directory (one past the newest).
  Result<uint64_t> NewGeneration();
  // Removes a generation's directory and everything in it.
  Status Drop(uint64_t generation);
  static std::string NameOf(uint64_t generation) { return "gen-" + std::to_string(generation); }

 private:
  RunArea(sys::UniqueFd fd, sys::UniqueFd lock, std::string path)
      : fd_(std::move(fd)), lock_(std::move(lock)), path_(std::move(path)) {}
  sys::UniqueFd fd_;
  sys::UniqueFd lock_;
  std::string path_;  // absolute
};

}  // namespace rams::fss
