// SPDX-License-Identifier: MIT
// Rate-limited logging of repeated failures.
#include "log_limiter.h"

namespace ramsd {

void LogLimiter::Log(spdlog::level::level_enum level, const std::string& key,
                     const std::string& line) {
  const auto now = std::chrono::steady_clock::now();
  if (windows_.size() >= kMaxKeys && windows_.count(key) == 0) {
    std::erase_if(windows_, [&](const auto& kv) { return now - kv.second.start >= kWindow; });
    if (windows_.size() >= kMaxKeys) windows_.clear();  // a flood of distinct keys
  }
  Window& w = windows_[key];
  if (w.written == 0 || now - w.start >= kWindow) {
    if (w.suppressed > 0) {
      spdlog::log(level, "({} more like the next line in the last {} s were not logged)",
                  w.suppressed, std::chrono::duration_cast<std::chrono::seconds>(now - w.start).count());
    }
    w = Window{.start = now};
  }
  if (w.written < kBurst) {
    ++w.written;
    spdlog::log(level, "{}", line);
  } else {
    ++w.suppressed;
  }
}

}  // namespace ramsd
