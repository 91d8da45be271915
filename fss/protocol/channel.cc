// SPDX-License-Identifier: MIT
// Waiting on and publishing the channel's state word.
#include <chrono>

#include "channel.h"
#include "cpu_relax.h"
#include "rams/wait.h"

namespace rams::fss {
namespace {

std::atomic<uint32_t>* Word(ChannelHeader* h) {
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
  return reinterpret_cast<std::atomic<uint32_t>*>(&h->state);
}

}  // namespace

bool SpinUntilState(ChannelHeader* h, uint32_t want) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinUs);
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      // acquire: pairs with the release store of the side that set `want`.
      if (StateWord(h).load(std::memory_order_acquire) == want) return true;
      internal::CpuRelax();
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
  }
}

void PublishState(ChannelHeader* h, uint32_t state) {
  // release: pairs with the acquire loads of AwaitState/SpinUntilState.
  StateWord(h).store(state, std::memory_order_release);
  WakeWord(Word(h), 1);
}

bool AwaitState(ChannelHeader* h, uint32_t want, const std::function<bool()>& alive, bool* bad) {
  *bad = false;
  if (SpinUntilState(h, want)) return true;
  for (;;) {
    uint32_t seen = StateWord(h).load(std::memory_order_acquire);
    if (seen == want) return true;
    if (seen != kIdle && seen != kRequestPending && seen != kReplyReady) {
      *bad = true;
      return false;
    }
    // ETIMEDOUT, EAGAIN (the word moved) and EINTR all mean: look again.
    (void)WaitWord(Word(h), seen, std::chrono::milliseconds(kSliceMs));
    if (StateWord(h).load(std::memory_order_acquire) != want && !alive()) return false;
  }
}

}  // namespace rams::fss
