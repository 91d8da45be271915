/* SPDX-License-Identifier: MIT */
// Restore: puts the tree back into the state the checkpoint began with, from
// the journal's records and the saved copies in the checkpoint area.
//
// Records are applied in three phases: (1) every path's first covering
// record (kAbsent, kFile, kSymlink, kDirTree), ancestors before descendants:
// whatever is at the path now is removed, then the saved object is copied
// back; (2) kHardLink records, linked to the restored file they name;
// (3) directory metadata from each directory's earliest record, deepest
// first. Restore reads the area and never changes it, and every step first
// removes what it replaces, so running it again (also after a crash midway)
// gives the same tree.
//
// Thread safety: the caller owns the area lock; nothing else may change the
// tree meanwhile.
#pragma once

#include <string>
#include <vector>

#include "journal.h"
#include "root.h"

namespace rams::fss {

// Restores every record. With `show_progress`, a progress line on stderr.
Status RestoreRecords(const Root& root, int area_fd, const std::vector<Record>& records,
                      bool show_progress);

// One changed path as `fss status` shows it.
struct PathChange {
  char kind;  // 'M' modified, 'A' created (added), 'D' removed (deleted)
  std::string path;
};

// What changed since the checkpoint began, by path.
Result<std::vector<PathChange>> ListChanges(const Root& root, const std::vector<Record>& records);

}  // namespace rams::fss
