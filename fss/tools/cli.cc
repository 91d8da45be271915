// SPDX-License-Identifier: MIT
// fss CLI commands.
#include "cli.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "checkpoint.h"
#include "rams/fss.h"
#include "restore.h"
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

}  // namespace

int RunRestore(const CliTarget& t, bool via_server) {
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

int RunDiff(const CliTarget& t, const std::string& path) {
  Result<JournalContents> j = ReadJournal(t);
  if (!j.ok()) {
    fprintf(stderr, "fss diff: %s\n", j.status().ToString().c_str());
    return 1;
  }
  std::string rel = path;
  while (!rel.empty() && rel.front() == '/') rel.erase(0, 1);
  while (!rel.empty() && rel.back() == '/') rel.pop_back();
  const Record* found = nullptr;
  for (const Record& r : j->records) {
    if (IsWithin(rel, r.path) && r.kind != RecordKind::kDirMeta) {
      found = &r;
      break;
    }
  }
  std::string now = t.root + "/" + rel;
  struct stat st;
  bool exists = ::lstat(now.c_str(), &st) == 0;
  if (found == nullptr) {
    printf("/%s: unchanged since the checkpoint\n", rel.c_str());
    return 0;
  }
  if (found->kind == RecordKind::kAbsent) {
    printf("/%s: created since the checkpoint%s\n", rel.c_str(), exists ? "" : " (and removed again)");
    return 0;
  }
  if (found->kind == RecordKind::kSymlink || found->kind == RecordKind::kHardLink) {
    printf("/%s: was %s %s\n", rel.c_str(), found->kind == RecordKind::kSymlink ? "a symlink to" : "a link of",
           found->target.c_str());
    return 0;
  }
  std::string saved = t.root + "/" + t.checkpoint_name + "/" +
                      JoinPath(found->location, rel.substr(std::min(rel.size(), found->path.size() + 1)));
  std::string label_old = "checkpoint:/" + rel;
  std::string label_new = "now:/" + rel;
  const char* argv[] = {"diff", "-u", "-r", "-N", "--label", label_old.c_str(), "--label", label_new.c_str(),
                        saved.c_str(), exists ? now.c_str() : "/dev/null", nullptr};
  pid_t pid;
  if (posix_spawnp(&pid, "diff", nullptr, nullptr, const_cast<char**>(argv), environ) != 0) {
    perror("fss diff: diff");
    return 1;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) <= 1 ? 0 : 1;
}

int RunCommit(const CliTarget& t) {
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
