/* SPDX-License-Identifier: MIT */
// A test cluster: one FakeHome and several hosts, each a HostPager serving
// the home's segment on its own abstract Unix socket. Processes of a host
// map through MappedSegment::Open(cluster.socket(host), name).
//
// Thread safety: built and destroyed by the test's main thread.
#pragma once

#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "fake_home.h"
#include "mapping/host_pager.h"
#include "mapping/mapped_segment.h"
#include "mapping/uffd.h"

namespace rams::mapping::testing {

inline constexpr char kSegment[] = "seg";

// For a child that is expected to die of SIGSEGV/SIGBUS: the default action
// (sanitizers install handlers that would turn the death into an exit).
inline void DieOnFaultSignals() {
  signal(SIGSEGV, SIG_DFL);
  signal(SIGBUS, SIG_DFL);
}

struct ClusterOptions {
  int hosts = 2;
  uint64_t size_bytes = 16 * kPageBytes;
  bool read_only = false;
  SegmentAccess access;
  PagerTuning tuning;
  std::chrono::milliseconds home_timeout{3000};
  SegmentProvider provider;  // for names other than kSegment
};

class Cluster {
 public:
  explicit Cluster(ClusterOptions o) : home(o.size_bytes, o.read_only, o.home_timeout) {
    static int serial = 0;
    for (int h = 0; h < o.hosts; ++h) {
      HostPagerOptions po;
      po.socket_path = "@rams-pager-test-" + std::to_string(getpid()) + "-" +
                       std::to_string(serial++);
      po.tuning = o.tuning;
      po.provider = o.provider;
      auto pager = HostPager::Start(po);
      if (!pager.ok()) {
        error = pager.status();
        return;
      }
      Status s = (*pager)->AddSegment(kSegment, home.Connect(h), o.access);
      if (!s.ok()) error = s;
      pagers.push_back(std::move(*pager));
    }
  }
  const std::string& socket(int host) const { return pagers[host]->socket_path(); }
  PagerStats stats(int host) const { return *pagers[host]->Stats(kSegment); }
  Result<std::unique_ptr<MappedSegment>> Map(int host, bool write = true) const {
    return MappedSegment::Open(socket(host), kSegment, MapOptions{write});
  }

  FakeHome home;
  std::vector<std::unique_ptr<HostPager>> pagers;
  Status error;
};

// The status of a host pager that could not start because this system has
// no userfaultfd at all (qemu-user answers ENOSYS): a test then skips.
inline bool NoUserfaultfd(const Status& s) {
  return s.code() == ENOSYS && s.ToString().find("userfaultfd") != std::string::npos;
}

}  // namespace rams::mapping::testing

// Asserts that cluster `c` came up; skips the test where no userfaultfd exists.
#define RAMS_ASSERT_CLUSTER_UP(c)                                                      \
  do {                                                                                 \
    if (::rams::mapping::testing::NoUserfaultfd((c).error)) {                          \
      GTEST_SKIP() << "userfaultfd is ENOSYS here (qemu-user has no userfaultfd): "    \
                   << (c).error.ToString();                                            \
    }                                                                                  \
    ASSERT_TRUE((c).error.ok()) << (c).error.ToString();                               \
  } while (0)

// Skips a test of shared (read) grants where userfaultfd cannot write-protect
// shmem (before 5.19 on x86_64, before 6.10 on arm64): the pager then takes
// every fault exclusive, so reads are not shared and nothing is read ahead.
#define RAMS_SKIP_WITHOUT_WRITE_PROTECT()                                              \
  do {                                                                                 \
    auto features_ = ::rams::mapping::ProbeUffdFeatures();                             \
    if (features_.ok() && !features_->wp_shmem) {                                      \
      GTEST_SKIP() << "no userfaultfd write-protect on shmem here: "                   \
                      "every grant is exclusive, reads are not shared";                \
    }                                                                                  \
  } while (0)
