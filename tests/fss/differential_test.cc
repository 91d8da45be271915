// SPDX-License-Identifier: MIT
// Differential test: random sequences of operations run through FSS (fssd +
// libfss) and, by direct syscalls, on a copy of the same tree. Return values,
// errno, data read and the trees afterwards must be equal; after each
// sequence a restore must give back the starting tree byte for byte.
// Reproduce one sequence with FSS_DIFF_SEED=N, run more with FSS_DIFF_SEQUENCES.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "fssd_process.h"
#include "rams/fss.h"
#include "tree_snapshot.h"

namespace rams::fss {
namespace {

using testing::WriteFile;

constexpr int kOpsPerSequence = 30;
constexpr int kMaxOpen = 6;

const char* const kPaths[] = {"a", "b", "hw.txt", "hl", "l", "d", "d/e", "d/f", "d/g", "d/g/h", "d/l2",
                              "foo", "foo/a", "foo/sub", "foo/sub/b", "x", "x/y", "l/e", "hw.txt/z"};
const char* const kTargets[] = {"a", "d", "e", "nonexistent", "sub/b", "hw.txt", "foo", "l"};

void BuildBase(const std::string& dir) {
  WriteFile(dir + "/hw.txt", "hello, world\n");
  mkdir((dir + "/foo").c_str(), 0755);
  mkdir((dir + "/foo/sub").c_str(), 0700);
  WriteFile(dir + "/foo/a", std::string(5000, 'a'));
  WriteFile(dir + "/foo/sub/b", "bbb", 0600);
  link((dir + "/foo/a").c_str(), (dir + "/hl").c_str());
  mkdir((dir + "/d").c_str(), 0755);
  WriteFile(dir + "/d/e", "eee");
  symlink("hw.txt", (dir + "/l").c_str());
  symlink("e", (dir + "/d/l2").c_str());
}

struct Outcome {
  int64_t ret = 0;
  int err = 0;
  std::string data;
  bool operator==(const Outcome&) const = default;
};

std::string StatSummary(uint32_t mode, int64_t size, uint32_t nlink) {
  std::ostringstream s;
  s << std::oct << mode << std::dec;
  if (!S_ISDIR(mode)) s << " size " << size << " nlink " << nlink;
  return s.str();
}

// One side of the comparison: the same operations by FSS or by syscalls.
class Side {
 public:
  virtual ~Side() = default;
  virtual Outcome Open(const std::string& p, int flags, mode_t mode) = 0;  // ret: slot or -1
  virtual Outcome Close(int slot) = 0;
  virtual Outcome Read(int slot, size_t n, int64_t off) = 0;  // off < 0: read()
  virtual Outcome Write(int slot, const std::string& data, int64_t off) = 0;
  virtual Outcome Lseek(int slot, int64_t off, int whence) = 0;
  virtual Outcome Fstat(int slot) = 0;
  virtual Outcome Ftruncate(int slot, int64_t len) = 0;
  virtual Outcome Fsync(int slot) = 0;
  virtual Outcome Stat(const std::string& p, bool follow) = 0;
  virtual Outcome Mkdir(const std::string& p, mode_t mode) = 0;
  virtual Outcome Rmdir(const std::string& p) = 0;
  virtual Outcome Unlink(const std::string& p) = 0;
  virtual Outcome Rename(const std::string& a, const std::string& b) = 0;
  virtual Outcome Truncate(const std::string& p, int64_t len) = 0;
  virtual Outcome Symlink(const std::string& t, const std::string& p) = 0;
  virtual Outcome Readlink(const std::string& p) = 0;
  virtual Outcome Chmod(const std::string& p, mode_t mode) = 0;
  virtual Outcome List(const std::string& p) = 0;
};

Outcome Result(int64_t r) { return Outcome{r < 0 ? -1 : r, r < 0 ? errno : 0, ""}; }

class FssSide : public Side {
 public:
  explicit FssSide(fss_client* c) : c_(c) {}
  ~FssSide() override {
    for (int fd : fds_) {
      if (fd >= 0) fss_close(c_, fd);
    }
  }
  Outcome Open(const std::string& p, int flags, mode_t mode) override {
    int fd = fss_open(c_, ("/" + p).c_str(), flags, mode);
    if (fd < 0) return Result(-1);
    fds_.push_back(fd);
    return Outcome{static_cast<int64_t>(fds_.size() - 1), 0, ""};
  }
  Outcome Close(int slot) override {
    Outcome o = Result(fss_close(c_, fds_[slot]));
    fds_[slot] = -1;
    return o;
  }
  Outcome Read(int slot, size_t n, int64_t off) override {
    std::string buf(n, '\0');
    ssize_t r = off < 0 ? fss_read(c_, fds_[slot], buf.data(), n) : fss_pread(c_, fds_[slot], buf.data(), n, off);
    Outcome o = Result(r);
    if (r > 0) o.data = buf.substr(0, static_cast<size_t>(r));
    return o;
  }
  Outcome Write(int slot, const std::string& d, int64_t off) override {
    return Result(off < 0 ? fss_write(c_, fds_[slot], d.data(), d.size())
                          : fss_pwrite(c_, fds_[slot], d.data(), d.size(), off));
  }
  Outcome Lseek(int slot, int64_t off, int whence) override { return Result(fss_lseek(c_, fds_[slot], off, whence)); }
  Outcome Fstat(int slot) override {
    struct fss_statbuf st;
    Outcome o = Result(fss_fstat(c_, fds_[slot], &st));
    if (o.ret == 0) o.data = StatSummary(st.mode, st.size, st.nlink);
    return o;
  }
  Outcome Ftruncate(int slot, int64_t len) override { return Result(fss_ftruncate(c_, fds_[slot], len)); }
  Outcome Fsync(int slot) override { return Result(fss_fsync(c_, fds_[slot])); }
  Outcome Stat(const std::string& p, bool follow) override {
    struct fss_statbuf st;
    Outcome o = Result(follow ? fss_stat(c_, ("/" + p).c_str(), &st) : fss_lstat(c_, ("/" + p).c_str(), &st));
    if (o.ret == 0) o.data = StatSummary(st.mode, st.size, st.nlink);
    return o;
  }
  Outcome Mkdir(const std::string& p, mode_t mode) override { return Result(fss_mkdir(c_, ("/" + p).c_str(), mode)); }
  Outcome Rmdir(const std::string& p) override { return Result(fss_rmdir(c_, ("/" + p).c_str())); }
  Outcome Unlink(const std::string& p) override { return Result(fss_unlink(c_, ("/" + p).c_str())); }
  Outcome Rename(const std::string& a, const std::string& b) override {
    return Result(fss_rename(c_, ("/" + a).c_str(), ("/" + b).c_str()));
  }
  Outcome Truncate(const std::string& p, int64_t len) override {
    return Result(fss_truncate(c_, ("/" + p).c_str(), len));
  }
  Outcome Symlink(const std::string& t, const std::string& p) override {
    return Result(fss_symlink(c_, t.c_str(), ("/" + p).c_str()));
  }
  Outcome Readlink(const std::string& p) override {
    char buf[256];
    ssize_t n = fss_readlink(c_, ("/" + p).c_str(), buf, sizeof(buf));
    Outcome o = Result(n);
    if (n > 0) o.data.assign(buf, static_cast<size_t>(n));
    return o;
  }
  Outcome Chmod(const std::string& p, mode_t mode) override { return Result(fss_chmod(c_, ("/" + p).c_str(), mode)); }
  Outcome List(const std::string& p) override {
    int fd = fss_open(c_, ("/" + p).c_str(), O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0) return Result(-1);
    std::vector<std::string> names;
    struct fss_dirent e[3];
    int n;
    while ((n = fss_readdir(c_, fd, e, 3)) > 0) {
      for (int i = 0; i < n; ++i) names.push_back(e[i].name);
    }
    Outcome o = Result(n);
    fss_close(c_, fd);
    std::sort(names.begin(), names.end());
    for (auto& s : names) o.data += s + ",";
    return o;
  }

 private:
  fss_client* c_;
  std::vector<int> fds_;
};

class DirectSide : public Side {
 public:
  explicit DirectSide(const std::string& dir) : dir_(dir), dfd_(open(dir.c_str(), O_RDONLY | O_DIRECTORY)) {}
  ~DirectSide() override {
    for (int fd : fds_) {
      if (fd >= 0) close(fd);
    }
    close(dfd_);
  }
  Outcome Open(const std::string& p, int flags, mode_t mode) override {
    int fd = openat(dfd_, p.c_str(), flags, mode);
    if (fd < 0) return Result(-1);
    fds_.push_back(fd);
    return Outcome{static_cast<int64_t>(fds_.size() - 1), 0, ""};
  }
  Outcome Close(int slot) override {
    Outcome o = Result(close(fds_[slot]));
    fds_[slot] = -1;
    return o;
  }
  Outcome Read(int slot, size_t n, int64_t off) override {
    std::string buf(n, '\0');
    ssize_t r = off < 0 ? read(fds_[slot], buf.data(), n) : pread(fds_[slot], buf.data(), n, off);
    Outcome o = Result(r);
    if (r > 0) o.data = buf.substr(0, static_cast<size_t>(r));
    return o;
  }
  Outcome Write(int slot, const std::string& d, int64_t off) override {
    return Result(off < 0 ? write(fds_[slot], d.data(), d.size()) : pwrite(fds_[slot], d.data(), d.size(), off));
  }
  Outcome Lseek(int slot, int64_t off, int whence) override { return Result(lseek(fds_[slot], off, whence)); }
  Outcome Fstat(int slot) override {
    struct stat st;
    Outcome o = Result(fstat(fds_[slot], &st));
    if (o.ret == 0) o.data = StatSummary(st.st_mode, st.st_size, static_cast<uint32_t>(st.st_nlink));
    return o;
  }
  Outcome Ftruncate(int slot, int64_t len) override { return Result(ftruncate(fds_[slot], len)); }
  Outcome Fsync(int slot) override { return Result(fsync(fds_[slot])); }
  Outcome Stat(const std::string& p, bool follow) override {
    struct stat st;
    Outcome o = Result(fstatat(dfd_, p.c_str(), &st, follow ? 0 : AT_SYMLINK_NOFOLLOW));
    if (o.ret == 0) o.data = StatSummary(st.st_mode, st.st_size, static_cast<uint32_t>(st.st_nlink));
    return o;
  }
  Outcome Mkdir(const std::string& p, mode_t mode) override { return Result(mkdirat(dfd_, p.c_str(), mode)); }
  Outcome Rmdir(const std::string& p) override { return Result(unlinkat(dfd_, p.c_str(), AT_REMOVEDIR)); }
  // fss_unlink removes a directory whole: the direct equivalent is rm -r.
  Outcome Unlink(const std::string& p) override {
    struct stat st;
    if (fstatat(dfd_, p.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return Result(-1);
    if (S_ISDIR(st.st_mode)) {
      testing::RemoveAll(dir_ + "/" + p);
      return Outcome{};
    }
    return Result(unlinkat(dfd_, p.c_str(), 0));
  }
  Outcome Rename(const std::string& a, const std::string& b) override {
    return Result(renameat(dfd_, a.c_str(), dfd_, b.c_str()));
  }
  Outcome Truncate(const std::string& p, int64_t len) override { return Result(truncate((dir_ + "/" + p).c_str(), len)); }
  Outcome Symlink(const std::string& t, const std::string& p) override {
    return Result(symlinkat(t.c_str(), dfd_, p.c_str()));
  }
  Outcome Readlink(const std::string& p) override {
    char buf[256];
    ssize_t n = readlinkat(dfd_, p.c_str(), buf, sizeof(buf));
    Outcome o = Result(n);
    if (n > 0) o.data.assign(buf, static_cast<size_t>(n));
    return o;
  }
  Outcome Chmod(const std::string& p, mode_t mode) override { return Result(fchmodat(dfd_, p.c_str(), mode, 0)); }
  Outcome List(const std::string& p) override {
    int fd = openat(dfd_, p.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0) return Result(-1);
    DIR* d = fdopendir(fd);
    std::vector<std::string> names;
    while (struct dirent* e = readdir(d)) names.push_back(e->d_name);
    closedir(d);
    Outcome o;
    std::sort(names.begin(), names.end());
    for (auto& s : names) o.data += s + ",";
    return o;
  }

 private:
  std::string dir_;
  int dfd_;
  std::vector<int> fds_;
};

// Runs one random sequence on both sides; returns a failure description or "".
std::string RunSequence(uint32_t seed, Side& fss, Side& direct) {
  std::mt19937 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint32_t>(n)); };
  auto path = [&] { return std::string(kPaths[pick(std::size(kPaths))]); };
  std::vector<bool> open_slots;
  std::ostringstream log;
  for (int step = 0; step < kOpsPerSequence; ++step) {
    int op = pick(20);
    std::vector<int> live;
    for (size_t i = 0; i < open_slots.size(); ++i) {
      if (open_slots[i]) live.push_back(static_cast<int>(i));
    }
    if (op >= 4 && op <= 9 && live.empty()) op = 0;
    int slot = live.empty() ? -1 : live[static_cast<size_t>(pick(static_cast<int>(live.size())))];
    Outcome a, b;
    std::string what;
    switch (op) {
      case 0: case 1: case 2: case 3: {
        if (live.size() >= kMaxOpen) continue;
        std::string p = path();
        int flags = (int[]){O_RDONLY, O_WRONLY, O_RDWR}[pick(3)];
        if (pick(2)) flags |= O_CREAT;
        if (pick(5) == 0) flags |= O_EXCL;
        if (pick(4) == 0) flags |= O_TRUNC;
        if (pick(4) == 0) flags |= O_APPEND;
        if (pick(10) == 0) flags |= O_NOFOLLOW;
        if (pick(12) == 0 && !(flags & O_CREAT)) flags = O_RDONLY | O_DIRECTORY;
        mode_t mode = (mode_t[]){0644, 0600, 0755, 0444}[pick(4)];
        what = "open " + p + " flags " + std::to_string(flags);
        a = fss.Open(p, flags, mode);
        b = direct.Open(p, flags, mode);
        if (a.ret >= 0 && b.ret >= 0) {
          open_slots.push_back(true);
          a.ret = b.ret = 0;
        }
        break;
      }
      case 4: {
        what = "close " + std::to_string(slot);
        a = fss.Close(slot);
        b = direct.Close(slot);
        open_slots[static_cast<size_t>(slot)] = false;
        break;
      }
      case 5: case 6: {
        size_t n = pick(8) == 0 ? static_cast<size_t>(pick(300000)) : static_cast<size_t>(pick(9000));
        std::string data(n, '\0');
        for (char& ch : data) ch = static_cast<char>('A' + pick(26));
        int64_t off = pick(2) ? -1 : pick(20000);
        what = "write " + std::to_string(n) + " at " + std::to_string(off);
        a = fss.Write(slot, data, off);
        b = direct.Write(slot, data, off);
        break;
      }
      case 7: {
        size_t n = static_cast<size_t>(pick(12000));
        int64_t off = pick(2) ? -1 : pick(20000);
        what = "read " + std::to_string(n) + " at " + std::to_string(off);
        a = fss.Read(slot, n, off);
        b = direct.Read(slot, n, off);
        break;
      }
      case 8: {
        int whence = (int[]){SEEK_SET, SEEK_CUR, SEEK_END}[pick(3)];
        int64_t off = pick(20000) - (whence == SEEK_SET ? 0 : 5000);
        what = "lseek " + std::to_string(off) + " " + std::to_string(whence);
        a = fss.Lseek(slot, off, whence);
        b = direct.Lseek(slot, off, whence);
        break;
      }
      case 9: {
        int k = pick(3);
        what = k == 0 ? "fstat" : k == 1 ? "ftruncate" : "fsync";
        if (k == 0) {
          a = fss.Fstat(slot);
          b = direct.Fstat(slot);
        } else if (k == 1) {
          int64_t len = pick(20000);
          a = fss.Ftruncate(slot, len);
          b = direct.Ftruncate(slot, len);
        } else {
          a = fss.Fsync(slot);
          b = direct.Fsync(slot);
        }
        break;
      }
      case 10: {
        std::string p = path();
        bool follow = pick(2);
        what = std::string(follow ? "stat " : "lstat ") + p;
        a = fss.Stat(p, follow);
        b = direct.Stat(p, follow);
        break;
      }
      case 11: {
        std::string p = path();
        what = "mkdir " + p;
        a = fss.Mkdir(p, 0755);
        b = direct.Mkdir(p, 0755);
        break;
      }
      case 12: {
        std::string p = path();
        what = "rmdir " + p;
        a = fss.Rmdir(p);
        b = direct.Rmdir(p);
        break;
      }
      case 13: {
        std::string p = path();
        what = "unlink " + p;
        a = fss.Unlink(p);
        b = direct.Unlink(p);
        break;
      }
      case 14: case 15: {
        std::string p = path(), q = path();
        what = "rename " + p + " " + q;
        a = fss.Rename(p, q);
        b = direct.Rename(p, q);
        break;
      }
      case 16: {
        std::string p = path();
        int64_t len = pick(10000);
        what = "truncate " + p;
        a = fss.Truncate(p, len);
        b = direct.Truncate(p, len);
        break;
      }
      case 17: {
        std::string p = path(), t = kTargets[pick(std::size(kTargets))];
        what = "symlink " + t + " " + p;
        a = fss.Symlink(t, p);
        b = direct.Symlink(t, p);
        break;
      }
      case 18: {
        std::string p = path();
        int k = pick(3);
        what = (k == 0 ? "readlink " : k == 1 ? "chmod " : "list ") + p;
        if (k == 0) {
          a = fss.Readlink(p);
          b = direct.Readlink(p);
        } else if (k == 1) {
          mode_t mode = (mode_t[]){0700, 0644, 0755, 0600}[pick(4)];
          a = fss.Chmod(p, mode);
          b = direct.Chmod(p, mode);
        } else {
          a = fss.List(p);
          b = direct.List(p);
        }
        break;
      }
      default: {
        what = "list /";
        a = fss.List("");
        b = direct.List(".");
        break;
      }
    }
    log << step << ": " << what << " -> " << a.ret << "/" << a.err << "\n";
    if (!(a == b)) {
      std::ostringstream out;
      out << log.str() << "MISMATCH at step " << step << " (" << what << "): fss " << a.ret << " errno " << a.err
          << " data[" << a.data.size() << "] '" << a.data.substr(0, 60) << "' vs direct " << b.ret << " errno "
          << b.err << " data[" << b.data.size() << "] '" << b.data.substr(0, 60) << "'";
      return out.str();
    }
  }
  return "";
}

void RunDifferential(int default_sequences) {
  umask(022);
  int sequences = getenv("FSS_DIFF_SEQUENCES") ? atoi(getenv("FSS_DIFF_SEQUENCES")) : default_sequences;
  int only = getenv("FSS_DIFF_SEED") ? atoi(getenv("FSS_DIFF_SEED")) : -1;
  std::string base = testing::MakeTempDir("diff");
  std::string start = base + "/start", root = base + "/root", copy = base + "/copy";
  ASSERT_EQ(mkdir(start.c_str(), 0755), 0);
  ASSERT_EQ(mkdir(root.c_str(), 0755), 0);
  BuildBase(start);
  testing::CopyTreeForTest(start, root);
  testing::Tree start_tree = testing::Snapshot(start);
  testing::FssdProcess fssd(root, base + "/fss.sock", base + "/fssd.log");
  fss_client* c = fssd.Connect();
  ASSERT_NE(c, nullptr);
  for (int i = 0; i < sequences; ++i) {
    uint32_t seed = only >= 0 ? static_cast<uint32_t>(only) : static_cast<uint32_t>(i);
    testing::RemoveAll(copy);
    ASSERT_EQ(mkdir(copy.c_str(), 0755), 0);
    testing::CopyTreeForTest(start, copy);
    std::string failure;
    {
      FssSide fss(c);
      DirectSide direct(copy);
      failure = RunSequence(seed, fss, direct);
    }
    ASSERT_EQ(failure, "") << "seed " << seed;
    ASSERT_EQ(testing::Diff(testing::Snapshot(copy), testing::Snapshot(root)), "") << "seed " << seed;
    ASSERT_EQ(fss_restore(c), 0) << "seed " << seed << ": " << strerror(errno);
    ASSERT_EQ(testing::Diff(start_tree, testing::Snapshot(root)), "") << "restore after seed " << seed;
    if (only >= 0) break;
  }
  fss_disconnect(c);
  EXPECT_EQ(fssd.Stop(), 0) << "fssd exit status";
  testing::RemoveAll(base);
}

TEST(FssDifferentialTest, FssMatchesDirectSyscallsAndRestoreUndoesAll) { RunDifferential(500); }

// The same with fssd, the direct side and the client all unprivileged, where
// permissions bite (read-only directories, 000 files) for both sides alike.
TEST(FssDifferentialTest, AsUnprivilegedServer) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to become nobody (as non-root the test above is it)";
  EXPECT_EQ(testing::RunBodyAsNobody([] { RunDifferential(150); }, std::chrono::seconds(300)), 0);
}

}  // namespace
}  // namespace rams::fss
