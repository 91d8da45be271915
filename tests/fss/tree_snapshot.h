/* SPDX-License-Identifier: MIT */
// Test helper: a comparable picture of a directory tree (type, mode, file
// content, symlink target, xattrs, which paths are hard links of one
// another), and small helpers to build trees.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace rams::fss::testing {

struct Node {
  char type = '?';      // 'f' file, 'd' directory, 'l' symlink, 'o' other
  unsigned mode = 0;    // permission bits
  std::string data;     // file content or symlink target
  std::string xattrs;   // "name=value;" sorted
  int link_group = -1;  // files sharing an inode share a group (nlink > 1)
  bool operator==(const Node&) const = default;
};

using Tree = std::map<std::string, Node>;

// Every path beneath `dir` (relative, "a/b"), except top-level `skip`.
Tree Snapshot(const std::string& dir, const std::string& skip = "checkpoint");
// A readable account of the differences ("" when equal).
std::string Diff(const Tree& a, const Tree& b);

// A fresh empty directory under TMPDIR, removed by RemoveAll.
std::string MakeTempDir(const std::string& tag);
void RemoveAll(const std::string& path);
void WriteFile(const std::string& path, const std::string& data, unsigned mode = 0644);
std::string ReadFile(const std::string& path);
// Copies a tree (cp -a).
void CopyTreeForTest(const std::string& from, const std::string& to);

}  // namespace rams::fss::testing
