// SPDX-License-Identifier: MIT
#include "matmul.h"

namespace rams::matrix {

void MultiplyRows(const double* a, const double* b, double* c, int n, int row_begin, int row_end) {
  // i-k-j order: the inner loop streams a row of B and a row of C.
  for (int i = row_begin; i < row_end; ++i) {
    double* ci = c + int64_t{i} * n;
    for (int j = 0; j < n; ++j) ci[j] = 0.0;
    for (int k = 0; k < n; ++k) {
      const double aik = a[int64_t{i} * n + k];
      const double* bk = b + int64_t{k} * n;
      for (int j = 0; j < n; ++j) ci[j] += aik * bk[j];
    }
  }
}

void FillInputs(double* a, double* b, int n, uint64_t seed) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return static_cast<double>(x % 2001) / 1000.0 - 1.0;  // [-1, 1]
  };
  for (int64_t i = 0; i < int64_t{n} * n; ++i) a[i] = next();
  for (int64_t i = 0; i < int64_t{n} * n; ++i) b[i] = next();
}

double Checksum(const double* m, int n) {
  double sum = 0;
  for (int64_t i = 0; i < int64_t{n} * n; ++i) sum += m[i];
  return sum;
}

}  // namespace rams::matrix
