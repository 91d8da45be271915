// SPDX-License-Identifier: MIT
// fss CLI commands.
#include "cli.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>

#include "checkpoint.h"
#include "rams/fss.h"
#include "restore.h"
#include "run_area.h"
#include "server.h"

extern char** environ;

namespace rams::fss {
namespace {

std::string SocketFor(const CliTarget& t) {
  return t.socket_path.empty() ? DefaultSocketPath(t.root, t.checkpoint_name) : t.socket_path;
}

// Runs `op` through the fssd serving the target.
int ThroughServer(const CliTarget& t, int (*op)(fss_client*), const char* what) {
  fss_client* c = fss_connect(SocketFor(t).c_str());
  if (c == nullptr) {
    fprintf(stderr, "fss: %s: the root is locked but no fssd answers on %s: %s\n", what, SocketFor(t).c_str(),
            strerror(errno));
    return 1;
  }
  int r = op(c);
  int err = errno;
  fss_disconnect(c);
  if (r != 0) {
    fprintf(stderr, "fss: %s through fssd: %s\n", what, strerror(err));
    return 1;
  }
  return 0;
}

Result<JournalContents> ReadJournal(const CliTarget& t) {
  RAMS_ASSIGN_OR_RETURN(Root root, Root::Open(t.root, t.checkpoint_name));
  sys::UniqueFd area(::openat(root.fd(), t.checkpoint_name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!area.valid()) return ErrnoError("open checkpoint area");
  return Journal::Read(area.get());
}

// fss run's generations of the target's root (run_area.h), and the root as
// fss run sees it (nothing hidden in it).
struct Runs {
  std::optional<Root> root;
  std::optional<RunArea> area;  // absent: there is no run area
  std::vector<uint64_t> generations;
};

Result<Runs> OpenRuns(const CliTarget& t, bool lock) {
  Runs runs;
  RAMS_ASSIGN_OR_RETURN(Root root, Root::Open(t.root, ""));
  std::string dir = t.run_area;
  if (dir.empty()) {
    RAMS_ASSIGN_OR_RETURN(dir, DefaultRunArea(root.abs_path()));
  }
  Result<RunArea> area = RunArea::Open(dir, root.abs_path(), /*create=*/false, lock);
  runs.root.emplace(std::move(root));
  // None there; or the default place is not this user's to reach (a program
  // run as another user, with its HOME): no fss run ever used it.
  if (area.code() == ENOENT || (area.code() == EACCES && t.run_area.empty())) return runs;
  if (!area.ok()) return area.status();
  RAMS_ASSIGN_OR_RETURN(runs.generations, area->Generations());
  runs.area.emplace(std::move(*area));
  return runs;
}

Result<JournalContents> ReadGeneration(const Runs& runs, uint64_t gen) {
  sys::UniqueFd dir(::openat(runs.area->fd(), RunArea::NameOf(gen).c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir.valid()) return ErrnoError("open generation " + std::to_string(gen));
  return Journal::Read(dir.get());
}

// Whether the root has fssd's checkpoint area in it.
bool HasTreeArea(const CliTarget& t) {
  std::string area = t.root + "/" + t.checkpoint_name;
  struct stat st;
  return ::lstat(area.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Undoes one generation. `alone`: refuse when a later generation changed
// one of its paths too (undoing it first would be needed to be exact).
int RestoreGeneration(Runs& runs, uint64_t gen, bool alone) {
  if (std::find(runs.generations.begin(), runs.generations.end(), gen) == runs.generations.end()) {
    fprintf(stderr, "fss restore: no generation %llu of %s\n", static_cast<unsigned long long>(gen),
            runs.root->abs_path().c_str());
    return 1;
  }
  auto cp = Checkpoint::OpenAt(*runs.root, runs.area->fd(), RunArea::NameOf(gen), Checkpoint::OpenMode::kAcceptDamage);
  if (!cp.ok()) {
    fprintf(stderr, "fss restore: generation %llu: %s\n", static_cast<unsigned long long>(gen),
            cp.status().ToString().c_str());
    return 1;
  }
  for (uint64_t later : runs.generations) {
    if (!alone || later <= gen) continue;
    Result<JournalContents> j = ReadGeneration(runs, later);
    if (!j.ok()) {
      fprintf(stderr, "fss restore: generation %llu: %s\n", static_cast<unsigned long long>(later),
              j.status().ToString().c_str());
      return 1;
    }
    for (const Record& a : j->records) {
      for (const Record& b : (*cp)->records()) {
        if (!IsWithin(a.path, b.path) && !IsWithin(b.path, a.path)) continue;
        fprintf(stderr, "fss restore: generation %llu cannot be undone on its own: generation %llu changed /%s "
                "after it (undo generation %llu first)\n", static_cast<unsigned long long>(gen),
                static_cast<unsigned long long>(later), a.path.c_str(), static_cast<unsigned long long>(later));
        return 1;
      }
    }
  }
  size_t n = (*cp)->records().size();
  Status s = (*cp)->Restore(true);
  if (!s.ok()) {
    fprintf(stderr, "fss restore: generation %llu: %s (kept; fix the cause and run it again)\n",
            static_cast<unsigned long long>(gen), s.ToString().c_str());
    return 1;
  }
  cp->reset();
  if (Status d = runs.area->Drop(gen); !d.ok()) {
    fprintf(stderr, "fss restore: generation %llu restored, but not removed: %s\n",
            static_cast<unsigned long long>(gen), d.ToString().c_str());
    return 1;
  }
  runs.generations.erase(std::find(runs.generations.begin(), runs.generations.end(), gen));
  printf("restored generation %llu of %s from %zu saved paths\n", static_cast<unsigned long long>(gen),
         runs.root->abs_path().c_str(), n);
  return 0;
}

}  // namespace

int RunRestore(const CliTarget& t, bool via_server) {
  Result<Runs> runs = OpenRuns(t, /*lock=*/true);
  if (!runs.ok()) {
    fprintf(stderr, "fss restore: %s\n", runs.status().ToString().c_str());
    return 1;
  }
  if (t.generation != 0) {
    if (!runs->area) {
      fprintf(stderr, "fss restore: no fss run generations for %s\n", t.root.c_str());
      return 1;
    }
    return RestoreGeneration(*runs, t.generation, /*alone=*/true);
  }
  // Every generation, newest first, then fssd's checkpoint (when there is
  // one, or when there were no generations: the command's old meaning).
  bool had_runs = !runs->generations.empty();
  while (!runs->generations.empty()) {
    if (int rc = RestoreGeneration(*runs, runs->generations.back(), /*alone=*/false); rc != 0) return rc;
  }
  if (had_runs && !HasTreeArea(t)) return 0;
  Result<Root> root = Root::Open(t.root, t.checkpoint_name);
  if (!root.ok()) {
    fprintf(stderr, "fss-restore: %s\n", root.status().ToString().c_str());
    return 1;
  }
  auto cp = Checkpoint::Open(*root, Checkpoint::OpenMode::kAcceptDamage);
  if (cp.code() == EBUSY && via_server) return ThroughServer(t, fss_restore, "restore");
  if (!cp.ok()) {
    fprintf(stderr, "fss-restore: %s%s\n", cp.status().ToString().c_str(),
            cp.code() == EBUSY ? " (stop fssd, or use `fss restore` to restore through it)" : "");
    return 1;
  }
  size_t n = (*cp)->records().size();
  Status s = (*cp)->Restore(true);
  if (!s.ok()) {
    fprintf(stderr, "fss-restore: %s (the checkpoint is kept; fix the cause and run it again: restore is "
            "idempotent)\n", s.ToString().c_str());
    return 1;
  }
  printf("restored %s from %zu saved paths; a new checkpoint begins\n", t.root.c_str(), n);
  return 0;
}

int RunStatus(const CliTarget& t) {
  Result<Runs> runs = OpenRuns(t, /*lock=*/false);
  if (!runs.ok()) {
    fprintf(stderr, "fss status: %s\n", runs.status().ToString().c_str());
    return 1;
  }
  for (uint64_t gen : runs->generations) {
    Result<JournalContents> j = ReadGeneration(*runs, gen);
    Result<std::vector<PathChange>> changes = j.ok() ? ListChanges(*runs->root, j->records)
                                                     : Result<std::vector<PathChange>>(j.status());
    if (!changes.ok()) {
      fprintf(stderr, "fss status: generation %llu: %s\n", static_cast<unsigned long long>(gen),
              changes.status().ToString().c_str());
      return 1;
    }
    printf("# generation %llu (fss run)\n", static_cast<unsigned long long>(gen));
    for (const PathChange& c : *changes) printf("%c /%s\n", c.kind, c.path.c_str());
  }
  if (!runs->generations.empty() && !HasTreeArea(t)) return 0;
  Result<Root> root = Root::Open(t.root, t.checkpoint_name);
  Result<JournalContents> j = ReadJournal(t);
  if (!root.ok() || !j.ok()) {
    fprintf(stderr, "fss status: %s\n", (root.ok() ? j.status() : root.status()).ToString().c_str());
    return 1;
  }
  Result<std::vector<PathChange>> changes = ListChanges(*root, j->records);
  if (!changes.ok()) {
    fprintf(stderr, "fss status: %s\n", changes.status().ToString().c_str());
    return 1;
  }
  for (const PathChange& c : *changes) printf("%c /%s\n", c.kind, c.path.c_str());
  return 0;
}

namespace {

// Shows how root-relative `rel` changed, from the first record covering it;
// false when none does.
bool DiffFrom(const CliTarget& t, const std::vector<Record>& records, const std::string& area_path,
              const std::string& rel, int* rc) {
  const Record* found = nullptr;
  for (const Record& r : records) {
    if (IsWithin(rel, r.path) && r.kind != RecordKind::kDirMeta) {
      found = &r;
      break;
    }
  }
  if (found == nullptr) return false;
  *rc = 0;
  std::string now = t.root + "/" + rel;
  struct stat st;
  bool exists = ::lstat(now.c_str(), &st) == 0;
  if (found->kind == RecordKind::kAbsent) {
    printf("/%s: created since the checkpoint%s\n", rel.c_str(), exists ? "" : " (and removed again)");
    return true;
  }
  if (found->kind == RecordKind::kSymlink || found->kind == RecordKind::kHardLink) {
    printf("/%s: was %s %s\n", rel.c_str(), found->kind == RecordKind::kSymlink ? "a symlink to" : "a link of",
           found->target.c_str());
    return true;
  }
  std::string saved = area_path + "/" + JoinPath(found->location, rel.substr(std::min(rel.size(), found->path.size() + 1)));
  std::string label_old = "checkpoint:/" + rel;
  std::string label_new = "now:/" + rel;
  const char* argv[] = {"diff", "-u", "-r", "-N", "--label", label_old.c_str(), "--label", label_new.c_str(),
                        saved.c_str(), exists ? now.c_str() : "/dev/null", nullptr};
  pid_t pid;
  if (posix_spawnp(&pid, "diff", nullptr, nullptr, const_cast<char**>(argv), environ) != 0) {
    perror("fss diff: diff");
    *rc = 1;
    return true;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  *rc = WIFEXITED(status) && WEXITSTATUS(status) <= 1 ? 0 : 1;
  return true;
}

}  // namespace

int RunDiff(const CliTarget& t, const std::string& path) {
  std::string rel = path;
  while (!rel.empty() && rel.front() == '/') rel.erase(0, 1);
  while (!rel.empty() && rel.back() == '/') rel.pop_back();
  int rc = 0;
  // The oldest generation's record holds the original from before every run.
  Result<Runs> runs = OpenRuns(t, /*lock=*/false);
  if (runs.ok()) {
    for (uint64_t gen : runs->generations) {
      Result<JournalContents> j = ReadGeneration(*runs, gen);
      if (j.ok() && DiffFrom(t, j->records, runs->area->path() + "/" + RunArea::NameOf(gen), rel, &rc)) return rc;
    }
    if (!runs->generations.empty() && !HasTreeArea(t)) {
      printf("/%s: unchanged since the checkpoint\n", rel.c_str());
      return 0;
    }
  }
  Result<JournalContents> j = ReadJournal(t);
  if (!j.ok()) {
    fprintf(stderr, "fss diff: %s\n", j.status().ToString().c_str());
    return 1;
  }
  if (DiffFrom(t, j->records, t.root + "/" + t.checkpoint_name, rel, &rc)) return rc;
  printf("/%s: unchanged since the checkpoint\n", rel.c_str());
  return 0;
}

int RunCommit(const CliTarget& t) {
  Result<Runs> runs = OpenRuns(t, /*lock=*/true);
  if (!runs.ok()) {
    fprintf(stderr, "fss commit: %s\n", runs.status().ToString().c_str());
    return 1;
  }
  bool had_runs = !runs->generations.empty();
  for (uint64_t gen : runs->generations) {
    if (Status s = runs->area->Drop(gen); !s.ok()) {
      fprintf(stderr, "fss commit: generation %llu: %s\n", static_cast<unsigned long long>(gen), s.ToString().c_str());
      return 1;
    }
  }
  if (had_runs) printf("changes of %zu fss run generations accepted\n", runs->generations.size());
  if (had_runs && !HasTreeArea(t)) return 0;
  Result<Root> root = Root::Open(t.root, t.checkpoint_name);
  if (!root.ok()) {
    fprintf(stderr, "fss commit: %s\n", root.status().ToString().c_str());
    return 1;
  }
  auto cp = Checkpoint::Open(*root);
  if (cp.code() == EBUSY) return ThroughServer(t, fss_commit, "commit");
  Status s = cp.ok() ? (*cp)->Begin() : cp.status();
  if (!s.ok()) {
    fprintf(stderr, "fss commit: %s\n", s.ToString().c_str());
    return 1;
  }
  printf("changes accepted; checkpoint %llu begins\n", static_cast<unsigned long long>((*cp)->generation()));
  return 0;
}

}  // namespace rams::fss
