// SPDX-License-Identifier: MIT
// Tree pictures for the FSS tests.
#include "tree_snapshot.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace rams::fss::testing {
namespace {

std::string Xattrs(const std::string& path) {
  char names[4096];
  ssize_t n = llistxattr(path.c_str(), names, sizeof(names));
  if (n <= 0) return "";
  std::vector<std::string> parts;
  for (ssize_t i = 0; i < n; i += static_cast<ssize_t>(strlen(names + i)) + 1) {
    char value[4096];
    ssize_t v = lgetxattr(path.c_str(), names + i, value, sizeof(value));
    parts.push_back(std::string(names + i) + "=" + std::string(value, v > 0 ? static_cast<size_t>(v) : 0));
  }
  std::sort(parts.begin(), parts.end());
  std::string out;
  for (auto& p : parts) out += p + ";";
  return out;
}

// While alive, lets an unprivileged owner read and search a directory whose
// mode forbids it (a test may chmod its own directories 0600), and puts the
// mode back. Root needs nothing.
class Searchable {
 public:
  explicit Searchable(const std::string& dir) : dir_(dir) {
    struct stat st;
    if (geteuid() == 0 || lstat(dir.c_str(), &st) != 0 || st.st_uid != geteuid()) return;
    if ((st.st_mode & S_IRWXU) == S_IRWXU) return;
    mode_ = st.st_mode & 07777;
    changed_ = chmod(dir.c_str(), mode_ | S_IRWXU) == 0;
  }
  ~Searchable() {
    if (changed_) chmod(dir_.c_str(), mode_);
  }

 private:
  std::string dir_;
  mode_t mode_ = 0;
  bool changed_ = false;
};

void Walk(const std::string& base, const std::string& rel, const std::string& skip, Tree* out,
          std::map<std::pair<dev_t, ino_t>, int>* groups) {
  std::string dir = rel.empty() ? base : base + "/" + rel;
  Searchable searchable(dir);
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) throw std::runtime_error("opendir " + dir);
  std::vector<std::string> names;
  while (struct dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == ".." || (rel.empty() && n == skip)) continue;
    names.push_back(n);
  }
  closedir(d);
  for (const std::string& n : names) {
    std::string r = rel.empty() ? n : rel + "/" + n;
    std::string full = base + "/" + r;
    struct stat st;
    if (lstat(full.c_str(), &st) != 0) throw std::runtime_error("lstat " + full);
    Node node;
    node.mode = st.st_mode & 07777;
    node.xattrs = Xattrs(full);
    if (S_ISREG(st.st_mode)) {
      node.type = 'f';
      node.data = ReadFile(full);
      if (st.st_nlink > 1) {
        auto key = std::make_pair(st.st_dev, st.st_ino);
        auto it = groups->find(key);
        if (it == groups->end()) it = groups->emplace(key, static_cast<int>(groups->size())).first;
        node.link_group = it->second;
      }
    } else if (S_ISDIR(st.st_mode)) {
      node.type = 'd';
    } else if (S_ISLNK(st.st_mode)) {
      node.type = 'l';
      node.mode = 0;
      char buf[4096];
      ssize_t len = readlink(full.c_str(), buf, sizeof(buf));
      node.data.assign(buf, len > 0 ? static_cast<size_t>(len) : 0);
    } else {
      node.type = 'o';
    }
    (*out)[r] = node;
    if (S_ISDIR(st.st_mode)) Walk(base, r, skip, out, groups);
  }
}

}  // namespace

Tree Snapshot(const std::string& dir, const std::string& skip) {
  Tree out;
  std::map<std::pair<dev_t, ino_t>, int> groups;
  Walk(dir, "", skip, &out, &groups);
  // Link groups are numbered in walk order; renumber by first path so that
  // equal trees compare equal.
  std::map<int, int> renumber;
  for (auto& [path, node] : out) {
    if (node.link_group < 0) continue;
    auto it = renumber.find(node.link_group);
    if (it == renumber.end()) it = renumber.emplace(node.link_group, static_cast<int>(renumber.size())).first;
    node.link_group = it->second;
  }
  return out;
}

std::string Diff(const Tree& a, const Tree& b) {
  std::ostringstream out;
  for (const auto& [p, n] : a) {
    auto it = b.find(p);
    if (it == b.end()) {
      out << "only in first: " << p << "\n";
    } else if (!(it->second == n)) {
      out << "differs: " << p << " (" << n.type << " " << std::oct << n.mode << " " << n.data.size()
          << "B group " << std::dec << n.link_group << " vs " << it->second.type << " " << std::oct
          << it->second.mode << " " << it->second.data.size() << "B group " << std::dec
          << it->second.link_group << ")\n";
    }
  }
  for (const auto& [p, n] : b) {
    if (a.find(p) == a.end()) out << "only in second: " << p << "\n";
  }
  return out.str();
}

std::string MakeTempDir(const std::string& tag) {
  const char* tmp = getenv("TMPDIR");
  std::string templ = std::string(tmp ? tmp : "/tmp") + "/fss-" + tag + "-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp");
  return templ;
}

namespace {

// By descriptor, so a tree deeper than PATH_MAX is removed too.
void RemoveAllAt(int parent, const std::string& name, const std::string& shown) {
  struct stat st;
  if (fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    // An unprivileged test may have made its own directory unreadable.
    if ((st.st_mode & S_IRWXU) != S_IRWXU) fchmodat(parent, name.c_str(), (st.st_mode & 07777) | S_IRWXU, 0);
    int fd = openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR* d = fd < 0 ? nullptr : fdopendir(fd);
    if (d == nullptr) throw std::runtime_error("opendir " + shown);
    std::vector<std::string> names;
    while (struct dirent* e = readdir(d)) {
      if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
    }
    for (const std::string& n : names) RemoveAllAt(dirfd(d), n, shown + "/" + n);
    closedir(d);
  }
  if (unlinkat(parent, name.c_str(), S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) != 0) {
    throw std::runtime_error("remove " + shown);
  }
}

}  // namespace

void RemoveAll(const std::string& path) { RemoveAllAt(AT_FDCWD, path, path); }

void WriteFile(const std::string& path, const std::string& data, unsigned mode) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode);
  if (fd < 0) throw std::runtime_error("create " + path);
  if (write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) {
    throw std::runtime_error("write " + path);
  }
  fchmod(fd, mode);
  close(fd);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

namespace {

// Copies the contents of directory `from` into existing directory `to`,
// keeping modes, symlinks and hard links (within the copy).
void CopyInto(const std::string& from, const std::string& to, std::map<ino_t, std::string>* links) {
  DIR* d = opendir(from.c_str());
  if (d == nullptr) throw std::runtime_error("opendir " + from);
  std::vector<std::string> names;
  while (struct dirent* e = readdir(d)) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) names.emplace_back(e->d_name);
  }
  closedir(d);
  for (const std::string& n : names) {
    std::string src = from + "/" + n, dst = to + "/" + n;
    struct stat st;
    if (lstat(src.c_str(), &st) != 0) throw std::runtime_error("lstat " + src);
    if (S_ISDIR(st.st_mode)) {
      if (mkdir(dst.c_str(), 0700) != 0) throw std::runtime_error("mkdir " + dst);
      CopyInto(src, dst, links);
      chmod(dst.c_str(), st.st_mode & 07777);
    } else if (S_ISLNK(st.st_mode)) {
      char buf[4096];
      ssize_t len = readlink(src.c_str(), buf, sizeof(buf) - 1);
      if (len < 0 || symlink(std::string(buf, static_cast<size_t>(len)).c_str(), dst.c_str()) != 0) {
        throw std::runtime_error("symlink " + dst);
      }
    } else if (st.st_nlink > 1 && links->count(st.st_ino) != 0) {
      if (link((*links)[st.st_ino].c_str(), dst.c_str()) != 0) throw std::runtime_error("link " + dst);
    } else {
      int in = open(src.c_str(), O_RDONLY);
      int out = open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL, st.st_mode & 07777);
      if (in < 0 || out < 0) throw std::runtime_error("copy " + src);
      while (copy_file_range(in, nullptr, out, nullptr, 1 << 30, 0) > 0) {
      }
      fchmod(out, st.st_mode & 07777);
      close(in);
      close(out);
      if (st.st_nlink > 1) (*links)[st.st_ino] = dst;
    }
  }
}

}  // namespace

void CopyTreeForTest(const std::string& from, const std::string& to) {
  std::map<ino_t, std::string> links;
  CopyInto(from, to, &links);
}

}  // namespace rams::fss::testing
