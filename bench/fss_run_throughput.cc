// SPDX-License-Identifier: MIT
// fss_run_bench: `fss run` against the same work without FSS, in interleaved
// rounds, on tmpfs and on the disk's file system: creating 10,000 small
// files (goal <= 2x), rm -rf of a 10,000-file tree (saving included, goal
// <= 3x), make -j2 of a generated 40-file C project (goal <= 1.2x). Only
// the command is timed; building the trees is not. One JSON record per
// measure and file system (report.h): value and anchor are the median
// seconds of a round, the ratio the median of the rounds' ratios.
//   FSS_RUN_BENCH_FILES=N    files for create and rm -rf (10000)
//   FSS_RUN_BENCH_ROUNDS=N   rounds (5; 1 with RAMS_BENCH_QUICK)
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "report.h"

namespace {

constexpr long kTmpfsMagic = 0x01021994;

int EnvInt(const char* name, int fallback) {
  const char* v = getenv(name);
  return v != nullptr && atoi(v) > 0 ? atoi(v) : fallback;
}

// Runs argv in `dir`; the exit status (128+ for a signal).
int Run(const std::string& dir, const std::vector<std::string>& args) {
  pid_t pid = fork();
  if (pid == 0) {
    if (chdir(dir.c_str()) != 0) _exit(126);
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, 1);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int Shell(const std::string& dir, const std::string& script) { return Run(dir, {"sh", "-c", script}); }

struct Work {
  const char* name;
  const char* goal;
  std::string setup;    // untimed, in the round's directory
  std::string command;  // timed
};

}  // namespace

int main() {
  const char* fss = getenv("FSS_BIN");
  std::string fss_bin = fss != nullptr ? fss : FSS_CLI_PATH;
  const int files = EnvInt("FSS_RUN_BENCH_FILES", rams::bench::Quick() ? 500 : 10000);
  const int rounds = EnvInt("FSS_RUN_BENCH_ROUNDS", rams::bench::Quick() ? 1 : 5);
  const std::string n = std::to_string(files);
  const std::string fill = "mkdir t && cd t && seq " + n + " | sed s/^/f/ | xargs touch";
  const std::string gen =
      "mkdir proj && cd proj && i=0 && objs= && while [ $i -lt 40 ]; do echo \"int f$i(void) { return $i; }\" > f$i.c;"
      " objs=\"$objs f$i.o\"; i=$((i + 1)); done && echo 'int main(void) { return 0; }' > main.c &&"
      " printf 'prog: main.o %s\\n\\tcc -o prog main.o %s\\n%%.o: %%.c\\n\\tcc -c -o $@ $<\\n' \"$objs\" \"$objs\" > Makefile";
  const std::vector<Work> works = {
      {"create", "<= 2.0", "true", "seq " + n + " | sed s/^/f/ | xargs touch"},
      {"rmrf", "<= 3.0", fill, "rm -rf t"},
      {"make40", "<= 1.2", gen, "cd proj && make -s -j2"},
  };
  struct Place {
    std::string label, base;
  };
  std::vector<Place> places;
  struct statfs sf;
  if (statfs("/dev/shm", &sf) == 0 && sf.f_type == kTmpfsMagic) places.push_back({"tmpfs", "/dev/shm"});
  const char* tmp = getenv("TMPDIR");
  for (std::string disk : {std::string(tmp != nullptr ? tmp : "/tmp"), std::string("/var/tmp")}) {
    if (statfs(disk.c_str(), &sf) == 0 && sf.f_type != kTmpfsMagic) {
      places.push_back({"disk", disk});
      break;
    }
  }
  bool ok = true;
  for (const Place& place : places) {
    std::string base = place.base + "/fss-run-bench-" + std::to_string(getpid());
    mkdir(base.c_str(), 0700);
    std::string fs_name = place.label;
    if (statfs(base.c_str(), &sf) == 0 && place.label == "disk") {
      fs_name = sf.f_type == 0xEF53 ? "ext4" : sf.f_type == 0x58465342 ? "xfs" : sf.f_type == 0x9123683E ? "btrfs" : "disk";
    }
    for (const Work& w : works) {
      std::vector<double> fss_s, plain_s;
      for (int r = 0; r < rounds; ++r) {
        // Alternate which goes first, so neither always meets a warmed cache.
        for (int k = 0; k < 2; ++k) {
          bool under_fss = (r + k) % 2 == 0;
          std::string dir = base + "/" + w.name + (under_fss ? ".fss" : ".plain");
          std::string area = base + "/area";
          Shell(base, "rm -rf '" + dir + "' '" + area + "' && mkdir '" + dir + "'");
          if (Shell(dir, w.setup) != 0) ok = false;
          Shell(base, "sync");
          std::vector<std::string> args = {"sh", "-c", w.command};
          if (under_fss) {
            args.insert(args.begin(), {fss_bin, "run", "--root", dir, "--run-area", area, "--"});
          }
          auto t0 = std::chrono::steady_clock::now();
          if (Run(dir, args) != 0) ok = false;
          double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          (under_fss ? fss_s : plain_s).push_back(s * 1e3);
        }
      }
      rams::bench::Record rec;
      rec.name = std::string("fss_run_") + w.name + (w.name == std::string("make40") ? "" : "_" + n) + "_" + place.label;
      rec.unit = "ms";
      rec.anchor = std::string("plain_") + w.name + "_" + fs_name;
      rec.goal = w.goal;
      rec.samples = fss_s;
      rec.anchor_samples = plain_s;
      rec.value = rams::bench::Median(fss_s);
      rec.anchor_value = rams::bench::Median(plain_s);
      rec.pinning = "unpinned";
      ok &= rams::bench::Emit(rec);
    }
    Shell("/", "rm -rf '" + base + "'");
  }
  return ok ? 0 : 1;
}
