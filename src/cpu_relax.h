/* SPDX-License-Identifier: MIT */
// CpuRelax: the pause instruction of one spin-loop iteration, for every
// architecture rams builds on (x86_64 `pause`, aarch64 `yield`; elsewhere
// nothing). It tells the core (and an SMT sibling) that this thread is
// spinning; it is neither a fence nor a compiler barrier on which ordering
// may rely: spin loops order their loads with their atomics' own orders.
//
// Thread safety: stateless; safe from any thread.
#pragma once

namespace rams::internal {

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace rams::internal
