/* SPDX-License-Identifier: MIT */
// rams::fss::Checkpoint: the engine that saves a path before its first change
// since the checkpoint began, so that restore can put the tree back.
//
// The area (`ROOT/<checkpoint name>/`) mirrors the tree: the original of
// /a/b is saved at <area>/a/b (paths whose first component starts with
// ".fss." go under <area>/.fss.esc/, the area's own files being
// .fss.journal, .fss.lock and the marker .fss.area that says the FSS made it). Each save is: copy (fsynced, directories
// too), then a journal record (fdatasync'ed), and only then may the caller
// make the change (write-ahead). A crash before the record leaves an
// unreferenced copy that the next save or checkpoint replaces; a crash after
// it leaves a record whose path restore puts back to the same state.
//
// Invariants:
//  1. A path is saved at most once per checkpoint: a record for the path or
//     for one of its ancestors (other than kDirMeta) "covers" it, and a
//     covered path is never saved again.
//  2. A path that is not covered is unchanged since the checkpoint began, so
//     saving its current state saves its original.
//  3. A regular file with several links is saved once per inode, in one
//     kFile record that lists the inode's other names in the tree (so a crash
//     cannot save some names of an inode and not others).
//
// Group commit (SetGroupCommit, used by `fss run`): a record is always
// written into the journal before its change is made, but only the records
// whose loss could lose data are made durable at once (with every record
// written before them, in one fdatasync): file copies, directory trees,
// symlinks, links, directory metadata. Two kinds wait for the next Commit():
// "did not exist" records (their loss cannot lose data: the path is created
// after them) and files saved by MoveAway, where the save is the change
// itself (one rename of the original into the area, which no crash can
// undo halfway) and restore finds a moved file whose record was lost by its
// place (.fss.moved.<generation>/<path>). See docs/fss.md, "Group commit".
//
// The area is locked (flock on .fss.lock) by the one process that owns it:
// fssd, or fss-restore / fss commit while fssd is not running.
//
// Thread safety: BeforeChange and MoveAway may run in several threads at
// once for paths none of which is at or beneath another (the server's path
// claims, file_server.h): the records and indexes are guarded by mu_, which
// is never held across a copy, so saves of unrelated paths copy in parallel.
// Saves of files with several links are serialized among themselves
// (links_mu_, held through the whole save): their other names are not the
// caller's, and one save of the inode must cover them all. Begin, Restore,
// Commit and the accessors for tests and tools need no save in progress.
#pragma once

#include <sys/stat.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "journal.h"
#include "root.h"
#include "sys/local_mutex.h"

namespace rams::fss {

enum class Change {
  kContent,   // a file's data or size changes (open for writing, O_TRUNC, truncate)
  kMetadata,  // mode, owner or times change (chmod)
  kReplace,   // the path is created, removed, renamed away or replaced
};

class Checkpoint {
 public:
  enum class OpenMode {
    kStrict,        // a damaged journal is an error (EBADMSG)
    kAcceptDamage,  // load its trusted records read-only, for restore
  };
  // Locks and loads the checkpoint area of `root`, creating it if missing.
  // An existing directory is used only if the FSS made it (the marker
  // .fss.area, or an FSS journal in it) or it is empty; else EEXIST, and
  // nothing in it is touched. An existing journal is continued (empty or
  // not); a missing one begins a new checkpoint. A damaged journal (see
  // journal.h) is EBADMSG unless kAcceptDamage, and the area stays as it
  // is. EBUSY when another process holds the area.
  static Result<std::unique_ptr<Checkpoint>> Open(const Root& root, OpenMode mode = OpenMode::kStrict);
  // The same for an area outside the tree: directory `area_name` in
  // directory `area_parent` (`fss run`'s generations, see run_area.h).
  static Result<std::unique_ptr<Checkpoint>> OpenAt(const Root& root, int area_parent, const std::string& area_name,
                                                    OpenMode mode = OpenMode::kStrict);

  // Begins a new checkpoint: a fresh journal (next generation), the old
  // saved copies deleted. The current tree becomes the state to restore.
  // When the new journal cannot be made, the old checkpoint stays in force;
  // old copies that cannot be removed are reported on stderr and left.
  Status Begin() EXCLUDES(mu_);

  // Saves `rel` (canonical) unless already covered. REQUIRES: `rel` is not
  // in the checkpoint area, and no other thread saves or changes a path at
  // or beneath `rel`, or one above it, until the change is made. `parent`,
  // when not -1, is a descriptor of rel's directory that the caller holds
  // (else it is opened beneath the root).
  Status BeforeChange(const std::string& rel, Change change, int parent = -1) EXCLUDES(mu_);
  // What the caller's own lstat of parent/name, made just before, found:
  // the save then makes none of its own. REQUIRES: parent is not -1.
  struct Seen {
    bool exists = false;
    struct stat st = {};
  };
  Status BeforeChange(const std::string& rel, Change change, int parent, const Seen& seen) EXCLUDES(mu_);

  // Group commit: from now on records that may wait (see above) are made
  // durable by Commit(), or once `max_unsynced` of them are waiting.
  void SetGroupCommit(size_t max_unsynced) EXCLUDES(mu_) {
    sys::LocalMutexLock lock(mu_);
    group_max_ = max_unsynced;
  }
  // Makes every record written so far durable.
  Status Commit() EXCLUDES(mu_);
  // Records written but not yet durable.
  size_t unsynced() const EXCLUDES(mu_) {
    sys::LocalMutexLock lock(mu_);
    return journal_ == nullptr ? 0 : journal_->unsynced();
  }

  // Under group commit, removes the regular file parent/name (canonical
  // `rel`) as unlink would, by moving it into the area as its saved copy,
  // when this is the path's first change, the file has one link and lives on
  // the area's file system: true then (or an error: the file is then still
  // in place). False when it does not apply: the caller saves with
  // BeforeChange and unlinks.
  Result<bool> MoveAway(const std::string& rel, int parent, const std::string& name) EXCLUDES(mu_);
  // Where MoveAway puts the original of `rel`, relative to the area.
  std::string MovedLocation(std::string_view rel) const EXCLUDES(mu_) {
    sys::LocalMutexLock lock(mu_);
    return MovedLocationLocked(rel);
  }

  // Puts every saved path back (see restore.h), then begins a new checkpoint.
  // Restore goes on past a path it cannot restore; then, or when the journal
  // is damaged, the error names every failure and the checkpoint is kept.
  Status Restore(bool show_progress) EXCLUDES(mu_);
  // Why the journal cannot be trusted whole; empty when it can. For tools,
  // while no save runs (as records()).
  const std::string& damage() const NO_THREAD_SAFETY_ANALYSIS { return damage_; }

  // Called before each step of a save with the step's name ("copy", "sync",
  // "record", and "change": after the record, before the change); a non-ok
  // result aborts the save as a crash there would (fault-injection tests).
  void SetFaultHook(std::function<Status(std::string_view step)> hook) { fault_ = std::move(hook); }

  uint64_t generation() const EXCLUDES(mu_) {
    sys::LocalMutexLock lock(mu_);
    return generation_;
  }
  // For tests and tools, while no save runs.
  const std::vector<Record>& records() const NO_THREAD_SAFETY_ANALYSIS { return records_; }
  int area_fd() const { return area_.get(); }
  const Root& root() const { return root_; }

  // Where the original of `rel` is kept, relative to the area.
  static std::string LocationFor(std::string_view rel);

 private:
  Checkpoint(const Root& root, sys::UniqueFd area, sys::UniqueFd lock)
      : root_(root), area_(std::move(area)), lock_(std::move(lock)) {}
  Status Load(OpenMode mode) EXCLUDES(mu_);
  Status BeginLocked() REQUIRES(mu_);
  std::string MovedLocationLocked(std::string_view rel) const REQUIRES(mu_);
  // Both BeforeChange: `seen` null when the save makes its own lstat.
  Status BeforeChangeSeen(const std::string& rel, Change change, int parent, const Seen* seen) EXCLUDES(mu_);
  // Saves `rel` unless covered: true when a record was written.
  Result<bool> Save(const std::string& rel, Change change, int parent, const Seen* seen) EXCLUDES(mu_);
  bool Covered(const std::string& rel) const REQUIRES(mu_);
  bool HoldsSaved(const std::string& rel) const REQUIRES(mu_);
  Status Fault(std::string_view step) { return fault_ ? fault_(step) : Status::Ok(); }
  // Journals the record; `may_wait`: under group commit it need not be
  // durable before the change (see above).
  Status Append(Record record, bool may_wait = false) REQUIRES(mu_);
  // Records for moved files whose own record a crash lost (in memory only).
  Status AdoptMovedOrphans() REQUIRES(mu_);
  Result<sys::UniqueFd> AreaDirFor(const std::string& location);
  Status SaveNode(const std::string& rel, int parent, const std::string& name, const struct stat& st,
                  std::string other_links = "") EXCLUDES(mu_);
  void Index(const Record& record) REQUIRES(mu_);
  Result<bool> SaveMultiLink(const std::string& rel, int parent, const std::string& name, const struct stat& st)
      EXCLUDES(mu_);
  Status SaveTree(const std::string& rel, int parent, const std::string& name, const struct stat& st)
      EXCLUDES(mu_);
  Result<std::vector<std::string>> FindLinks(const struct stat& st);

  // Constant after construction.
  const Root& root_;
  sys::UniqueFd area_;
  sys::UniqueFd lock_;
  std::string area_name_;  // for messages

  // Set before saves run (SetFaultHook is for tests); called concurrently.
  std::function<Status(std::string_view)> fault_;

  mutable sys::LocalMutex mu_;  // the records and indexes below; never held across a copy
  sys::LocalMutex links_mu_;    // held through a save of a file with several links
  uint64_t generation_ GUARDED_BY(mu_) = 0;
  std::unique_ptr<Journal> journal_ GUARDED_BY(mu_);  // null while the journal cannot be appended to
  std::string damage_ GUARDED_BY(mu_);
  uint64_t next_seq_ GUARDED_BY(mu_) = 1;
  std::vector<Record> records_ GUARDED_BY(mu_);
  std::set<std::string> covered_ GUARDED_BY(mu_);   // paths with a record other than kDirMeta
  std::set<std::string> dir_meta_ GUARDED_BY(mu_);  // paths with a kDirMeta record
  std::map<std::pair<uint64_t, uint64_t>, std::string> saved_inodes_ GUARDED_BY(mu_);  // (dev, ino) -> path
  size_t group_max_ GUARDED_BY(mu_) = 0;  // 0: every record durable before its change
  // MoveAway's last area directory (an rm -r moves many files into one):
  // its location relative to the area, and the directory.
  std::string moved_dir_ GUARDED_BY(mu_);
  sys::UniqueFd moved_dir_fd_ GUARDED_BY(mu_);
  std::optional<dev_t> area_dev_ GUARDED_BY(mu_);  // the area's file system, once looked up
};

// Whether a record's location is where MoveAway puts files
// (".fss.moved.<generation>/...").
bool IsMovedLocation(std::string_view location);

// The other names of a kFile record's inode (its '\\0'-separated target).
std::vector<std::string> OtherLinks(const Record& record);

// Fills a record's metadata fields from `st`.
void FillMetadata(const struct stat& st, Record* record);

}  // namespace rams::fss
