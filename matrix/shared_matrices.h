/* SPDX-License-Identifier: MIT */
// A segment laid out for the shared matrix multiplication: a small header
// (magic, n, a checksum slot, a rams::Barrier) followed by A, B and C.
// Workers in separate processes attach by name, compute their bands of C and
// meet at the barrier.
//
// Thread safety: the header's atomics and barrier are shared by all workers;
// the matrices are written by one band owner each.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "matmul.h"
#include "rams/barrier.h"
#include "rams/segment.h"

namespace rams::matrix {

struct MatrixHeader {
  static constexpr uint64_t kMagic = 0x58495254414d5352;  // "RSMATRIX"
  uint64_t magic;
  uint32_t n;
  uint32_t workers;
  std::atomic<uint64_t> checksum_bits;  // bit pattern of sum(C), set by worker 0
  uint64_t reserved[1];
  // The workers meet here; a worker that dies breaks it instead of leaving
  // the others waiting. Construct it (placement new) for each run.
  Barrier barrier;
  uint64_t reserved_tail[6];
};
static_assert(sizeof(MatrixHeader) == 384);
static_assert(offsetof(MatrixHeader, barrier) == 32);

// Byte size of a segment holding three n x n matrices.
uint64_t MatrixSegmentBytes(int n);

struct MatrixView {
  MatrixHeader* header;
  double* a;
  double* b;
  double* c;
};

// Maps `seg` and returns pointers into it. REQUIRES: seg is big enough.
Result<MatrixView> ViewMatrices(Segment& seg, int n);

// The whole worker: attach to `name`, barrier, compute band `index` of
// `count`, barrier; worker 0 then stores the checksum of C. Returns 0 on
// success (it runs in a forked child).
int RunWorker(const std::string& name, Backend* backend, int n, int index, int count);

}  // namespace rams::matrix
