// SPDX-License-Identifier: MIT
// The local segment commands: create, ls, info, rm, lock (read and write,
// which also take remote targets, are in cmd_io.cc).
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "cli.h"
#include "commands.h"
#include "target.h"

namespace rams::cli {
namespace {

std::string TimeString(int64_t unix_ns) {
  time_t t = static_cast<time_t>(unix_ns / 1'000'000'000);
  tm tm_local{};
  localtime_r(&t, &tm_local);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm_local);
  return buf;
}

void PrintInfo(const SegmentInfo& i) {
  printf("name:     %s\n", i.name.c_str());
  printf("size:     %" PRIu64 " bytes\n", i.size_bytes);
  printf("mode:     %04o (%s)\n", i.mode, ModeString(i.mode).c_str());
  printf("owner:    uid %u gid %u\n", i.owner_uid, i.owner_gid);
  printf("backend:  %s\n", i.backend.c_str());
  printf("created:  %s\n", TimeString(i.created_unix_ns).c_str());
  printf("locks:    %u held\n", i.locks_held);
}

int Create(const GlobalOptions& g, const std::string& name, const std::string& size_text,
           const std::string& mode_text, bool exclusive) {
  auto size = ParseSize(size_text);
  if (!size.ok()) return Report(WithContext("create " + name + ": size", size.status()));
  char* end = nullptr;
  unsigned long mode = strtoul(mode_text.c_str(), &end, 8);
  if (mode_text.empty() || *end != '\0' || mode > 07777) {
    return Report(Error(EINVAL, "create " + name + ": mode '" + mode_text + "' is not octal permission bits"));
  }
  auto backend = ChooseBackend(g.backend);
  if (!backend.ok()) return Report(backend.status());
  auto seg = Segment::Create(name, *size, static_cast<uint32_t>(mode), exclusive, *backend);
  return seg.ok() ? kExitOk : Report(seg.status());
}

int List(const GlobalOptions& g, bool json) {
  auto backend = ChooseBackend(g.backend);
  if (!backend.ok()) return Report(backend.status());
  auto list = Segment::List(*backend);
  if (!list.ok()) return Report(list.status());
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& i : *list) out.push_back(ToJson(i));
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  printf("%-24s %14s %-11s %6s %-7s %-19s %5s\n", "NAME", "SIZE", "MODE", "UID", "BACKEND",
         "CREATED", "LOCKS");
  for (const auto& i : *list) {
    printf("%-24s %14" PRIu64 " %-11s %6u %-7s %-19s %5u\n", i.name.c_str(), i.size_bytes,
           ModeString(i.mode).c_str(), i.owner_uid, i.backend.c_str(),
           TimeString(i.created_unix_ns).c_str(), i.locks_held);
  }
  return kExitOk;
}

int Info(const GlobalOptions& g, const std::string& name, bool json) {
  auto backend = ChooseBackend(g.backend);
  if (!backend.ok()) return Report(backend.status());
  auto info = Segment::Stat(name, *backend);
  if (!info.ok()) return Report(info.status());
  if (json) std::cout << ToJson(*info).dump(2) << "\n";
  else PrintInfo(*info);
  return kExitOk;
}

int Remove(const GlobalOptions& g, const std::vector<std::string>& names) {
  auto backend = ChooseBackend(g.backend);
  if (!backend.ok()) return Report(backend.status());
  int rc = kExitOk;
  for (const auto& name : names) {
    Status s = Segment::Remove(name, *backend);
    if (!s.ok()) rc = Report(s);
  }
  return rc;
}

int Lock(const GlobalOptions& g, const std::string& target, const std::string& off_text,
         const std::string& len_text, uint32_t writes, double timeout_s, double hold_s) {
  auto seg = OpenTarget(target, g.backend);
  if (!seg.ok()) return Report(seg.status());
  auto off = ParseSize(off_text);
  auto len = ParseSize(len_text);
  if (!off.ok()) return Report(WithContext("lock " + target + ": offset", off.status()));
  if (!len.ok()) return Report(WithContext("lock " + target + ": length", len.status()));
  // Block the signals that end the hold before anything can deliver them.
  sigset_t stop;
  sigemptyset(&stop);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&stop, sig);
  sigprocmask(SIG_BLOCK, &stop, nullptr);
  LockOptions options;
  options.writes = writes;
  if (timeout_s >= 0) options.timeout = std::chrono::nanoseconds(int64_t(timeout_s * 1e9));
  auto lock = seg->Lock(*off, *len, options);
  if (!lock.ok()) return Report(lock.status());
  printf("locked %s [%" PRIu64 ", %" PRIu64 ") id %" PRIu64 "; release with Ctrl-C or SIGTERM\n",
         target.c_str(), *off, *off + *len, lock->id());
  fflush(stdout);
  timespec ts{};
  timespec* tsp = nullptr;
  if (hold_s >= 0) {
    ts.tv_sec = static_cast<time_t>(hold_s);
    ts.tv_nsec = static_cast<long>((hold_s - double(ts.tv_sec)) * 1e9);
    tsp = &ts;
  }
  while (sigtimedwait(&stop, nullptr, tsp) < 0 && errno == EINTR) {
  }
  Status s = lock->Unlock();
  if (!s.ok() && s.code() != ENOENT) return Report(s);
  printf("released %s\n", target.c_str());
  return kExitOk;
}

// The parsed arguments of every segment command (the tool runs one).
struct SegmentArgs {
  std::string c_name;
  std::string c_size;
  std::string c_mode{"0600"};
  bool c_excl{false};
  bool ls_json{false};
  std::string i_name;
  bool i_json{false};
  std::vector<std::string> rm_names;
  std::string l_target;
  std::string l_off;
  std::string l_len;
  uint32_t l_writes{0};
  double l_timeout{-1};
  double l_hold{-1};
};
SegmentArgs seg_args;

}  // namespace

void AddSegmentCommands(CLI::App& app, GlobalOptions& g, int& rc) {
  auto* create = app.add_subcommand("create", "Create a segment");
  create->add_option("NAME", seg_args.c_name, "segment name: letters, digits, '.', '_', '-'")->required();
  create->add_option("SIZE", seg_args.c_size, "size in bytes; K, M, G suffixes (powers of 1024)")->required();
  create->add_option("--mode", seg_args.c_mode, "permission bits, octal (umask is not applied)")
      ->capture_default_str();
  create->add_flag("--exclusive", seg_args.c_excl, "fail when it exists (else open it if the size matches)");
  create->callback([&] { rc = Create(g, seg_args.c_name, seg_args.c_size, seg_args.c_mode, seg_args.c_excl); });

  auto* ls = app.add_subcommand("ls", "List segments");
  ls->add_flag("--json", seg_args.ls_json, "machine-readable output");
  ls->callback([&] { rc = List(g, seg_args.ls_json); });

  auto* info = app.add_subcommand("info", "Show a segment's size, mode, owner, backend, locks");
  info->add_option("NAME", seg_args.i_name, "segment name")->required();
  info->add_flag("--json", seg_args.i_json, "machine-readable output");
  info->callback([&] { rc = Info(g, seg_args.i_name, seg_args.i_json); });

  auto* rm = app.add_subcommand("rm", "Remove segments (attached users keep them until they close)");
  rm->add_option("NAME", seg_args.rm_names, "segment names")->required();
  rm->callback([&] { rc = Remove(g, seg_args.rm_names); });

  auto* lock = app.add_subcommand(
      "lock", "Lock a byte range and hold it until SIGINT/SIGTERM/SIGHUP or --hold runs out");
  lock->add_option("NAME", seg_args.l_target, "segment name")->required();
  lock->add_option("OFF", seg_args.l_off, "offset")->required();
  lock->add_option("LEN", seg_args.l_len, "length")->required();
  lock->add_option("--writes", seg_args.l_writes, "write lease: released after this many writes (0: none)");
  lock->add_option("--timeout", seg_args.l_timeout, "seconds to wait for other holders (default: for ever; 0: not at all)");
  lock->add_option("--hold", seg_args.l_hold, "seconds to hold it (default: until a signal)");
  lock->callback([&] {
    rc = Lock(g, seg_args.l_target, seg_args.l_off, seg_args.l_len, seg_args.l_writes, seg_args.l_timeout, seg_args.l_hold);
  });
}

}  // namespace rams::cli
