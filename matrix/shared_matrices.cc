// SPDX-License-Identifier: MIT
#include "shared_matrices.h"

#include <sys/mman.h>
#include <unistd.h>

#include <bit>
#include <cerrno>

#include "matmul.h"

namespace rams::matrix {

uint64_t MatrixSegmentBytes(int n) {
  return sizeof(MatrixHeader) + 3 * uint64_t(n) * uint64_t(n) * sizeof(double);
}

Result<MatrixView> ViewMatrices(Segment& seg, int n) {
  RAMS_ASSIGN_OR_RETURN(std::span<std::byte> bytes, seg.Map());
  if (bytes.size() < MatrixSegmentBytes(n)) {
    return Error(EINVAL, "segment " + seg.name() + " is too small for " + std::to_string(n) +
                             "x" + std::to_string(n) + " matrices");
  }
  auto* header = reinterpret_cast<MatrixHeader*>(bytes.data());
  auto* a = reinterpret_cast<double*>(bytes.data() + sizeof(MatrixHeader));
  uint64_t nn = uint64_t(n) * uint64_t(n);
  return MatrixView{header, a, a + nn, a + 2 * nn};
}

namespace {

// Maps the pages of [p, p+len) into this process up front: one batched call
// instead of a page fault per page while computing. Best effort: a kernel
// without MADV_POPULATE_* just takes the faults later.
void Prefault(const void* p, uint64_t len, bool write) {
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  uintptr_t begin = reinterpret_cast<uintptr_t>(p) & ~(page - 1);
  uintptr_t end = reinterpret_cast<uintptr_t>(p) + len;
  madvise(reinterpret_cast<void*>(begin), end - begin,
          write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ);
}

}  // namespace

int RunWorker(const std::string& name, Backend* backend, int n, int index, int count) {
  auto seg = Segment::Open(name, {}, backend);
  if (!seg.ok()) return 2;
  auto view = ViewMatrices(*seg, n);
  if (!view.ok() || view->header->magic != MatrixHeader::kMagic) return 3;
  const int begin = BandBegin(n, index, count), end = BandBegin(n, index + 1, count);
  const uint64_t row_bytes = uint64_t(n) * sizeof(double);
  Prefault(view->a + int64_t{begin} * n, (end - begin) * row_bytes, false);
  Prefault(view->b, n * row_bytes, false);
  Prefault(view->c + int64_t{begin} * n, (end - begin) * row_bytes, true);
  if (!view->header->barrier.Wait().ok()) return 4;  // everyone attached
  MultiplyRows(view->a, view->b, view->c, n, begin, end);
  if (!view->header->barrier.Wait().ok()) return 5;  // every band is done
  if (index == 0) {
    view->header->checksum_bits.store(std::bit_cast<uint64_t>(Checksum(view->c, n)));
  }
  return 0;
}

}  // namespace rams::matrix
