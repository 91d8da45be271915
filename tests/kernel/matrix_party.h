/* SPDX-License-Identifier: MIT */
// What the kernel suite's matrix programs share (matrix_sync_test.cc, one
// host; remote_matrix.cc, two): C = A x B of small integers, so that every
// product and sum is exact, computed a row at a time by parties that each
// attach on their own and meet at a rams::Barrier, and checked against a
// private computation.
#pragma once

#include <cstdio>

#include "rams/backend.h"
#include "rams/barrier.h"
#include "rams/mutex.h"
#include "rams/segment.h"

#define REQUIRE(cond, what)                                          \
  do {                                                               \
    if (!(cond)) {                                                   \
      std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, what); \
      return 1;                                                      \
    }                                                                \
  } while (0)

namespace matrix {

template <typename T>
T Entry(int which, int i, int j, int modulus) {
  return T((which * 7919 + i * 31 + j * 17) % modulus);
}

// Fills the inputs: a with Entry(1, ...), b with Entry(2, ...).
template <typename T, int N>
void FillInputs(T (&a)[N][N], T (&b)[N][N], int modulus) {
  for (int i = 0; i < N; ++i) {
    for (int j = 0; j < N; ++j) {
      a[i][j] = Entry<T>(1, i, j, modulus);
      b[i][j] = Entry<T>(2, i, j, modulus);
    }
  }
}

// Rows first, first + step, ... of c = a x b; returns their entries' sum.
template <typename T, int N>
T MultiplyRows(const T (&a)[N][N], const T (&b)[N][N], T (&c)[N][N], int first, int step) {
  T rows_sum = 0;
  for (int i = first; i < N; i += step) {
    for (int j = 0; j < N; ++j) {
      T sum = 0;
      for (int k = 0; k < N; ++k) sum += a[i][k] * b[k][j];
      c[i][j] = sum;
      rows_sum += sum;
    }
  }
  return rows_sum;
}

// Whether c is the product of Entry(1, ...) and Entry(2, ...); *total gets the sum of its entries.
template <typename T, int N>
bool CheckProduct(const T (&c)[N][N], int modulus, T* total) {
  *total = 0;
  for (int i = 0; i < N; ++i) {
    for (int j = 0; j < N; ++j) {
      T sum = 0;
      for (int k = 0; k < N; ++k) sum += Entry<T>(1, i, k, modulus) * Entry<T>(2, k, j, modulus);
      if (c[i][j] != sum) {
        std::fprintf(stderr, "C[%d][%d] = %.0f, want %.0f\n", i, j, double(c[i][j]), double(sum));
        return false;
      }
      *total += sum;
    }
  }
  return true;
}

// One party: attaches `name` (a Shared with `barrier` and `mutex`), joins the
// barrier, and between its first and second wait runs work(shared, mutex),
// which returns an exit code; returns one.
template <typename Shared, typename Work>
int Party(const char* name, rams::Backend* backend, Work work) {
  auto seg = rams::Segment::Open(name, {}, backend);
  REQUIRE(seg.ok(), seg.status().ToString().c_str());
  auto bytes = seg->Map();
  REQUIRE(bytes.ok(), bytes.status().ToString().c_str());
  auto* s = reinterpret_cast<Shared*>(bytes->data());
  auto barrier = rams::Barrier::Attach(&s->barrier);
  auto mutex = rams::Mutex::Attach(&s->mutex);
  REQUIRE(barrier.ok() && mutex.ok(), "attach the barrier and the mutex");
  REQUIRE((*barrier)->Join().ok(), "join the barrier");
  auto first = (*barrier)->Wait();
  REQUIRE(first.ok(), first.status().ToString().c_str());
  const int rc = work(*s, **mutex);
  auto second = (*barrier)->Wait();
  REQUIRE(second.ok(), second.status().ToString().c_str());
  (*barrier)->Leave();
  return rc;
}

}  // namespace matrix
