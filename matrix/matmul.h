/* SPDX-License-Identifier: MIT */
// The matrix-multiplication kernel shared by the demo and the benchmarks:
// rows [row_begin, row_end) of C = A x B for n x n row-major doubles. The
// summation order is fixed, so any split into bands gives bit-identical C.
//
// Thread safety: pure function of its inputs; bands may run concurrently.
#pragma once

#include <cstdint>

namespace rams::matrix {

void MultiplyRows(const double* a, const double* b, double* c, int n, int row_begin, int row_end);

// Fills A and B with reproducible values from `seed`.
void FillInputs(double* a, double* b, int n, uint64_t seed);

// Sum of all elements, in a fixed order.
double Checksum(const double* m, int n);

// The rows [begin, end) that worker `index` of `count` computes.
inline int BandBegin(int n, int index, int count) {
  return static_cast<int>(int64_t{n} * index / count);
}

}  // namespace rams::matrix
