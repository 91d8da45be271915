/* SPDX-License-Identifier: MIT */
// One worker of the remote matrix multiplication (rams-remote-demo): it
// connects to the ramsd at HOST:PORT, READs A and B, computes its band of C,
// WRITEs it back in a pipelined batch and meets the others at a rams::Barrier
// in the segment (constructed by the home, used remotely through ramsd's sync
// agents); worker 0 then reads C and stores its checksum. Runs in a process
// forked by the demo, or in rams-remote-worker (also built for Windows).
//
// Thread safety: one call per process.
#pragma once

#include <cstdint>
#include <string>

#include "rams/remote.h"

namespace rams::demo {

// Layout: the checksum word, the barrier, then A, B and C (n x n doubles
// each) from kData.
inline constexpr uint64_t kChecksum = 0;  // u64: bit pattern of sum(C), by worker 0
inline constexpr uint64_t kBarrier = 64;  // rams::Barrier for the workers
inline constexpr uint64_t kData = 512;

inline uint64_t MatrixBytes(int n) { return uint64_t(n) * n * sizeof(double); }

// Worker `index` of `count` on the n x n matrices of segment `name`.
Status RunRemoteWorker(const std::string& host, uint16_t port, const RemoteOptions& options,
                       const std::string& name, int n, int index, int count);

}  // namespace rams::demo
