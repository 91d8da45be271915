// Spinning on the channel's state word.
#include <chrono>

#include "channel.h"

namespace rams::fss {

bool SpinUntilState(ChannelHeader* h, uint32_t want) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinUs);
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      // acquire: pairs with the release store of the side that set `want`.
      if (StateWord(h).load(std::memory_order_acquire) == want) return true;
      __builtin_ia32_pause();
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
  }
}

}  // namespace rams::fss
