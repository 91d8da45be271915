/* SPDX-License-Identifier: MIT */
// ramsd's logging: where log lines go and how the log is reopened.
//
// Under a service manager that captures stderr into its journal
// ($JOURNAL_STREAM set, as systemd does) and with no --log-dir given, lines go
// to stderr only, one per line, for the journal to timestamp. Otherwise they
// go to DIR/ramsd.log (rotated: 5 files of 10 MiB), errors also to stderr.
// SIGHUP reopens the file, so an external logrotate can move it away.
//
// Thread safety: SetUpLogging and ReopenLog replace spdlog's default logger,
// which spdlog guards; logging from other threads meanwhile is safe.
#pragma once

#include <string>

#include "rams/status.h"

namespace ramsd {

struct LogOptions {
  std::string dir;          // empty: stderr only
  std::string level = "info";
};

// The log levels --log-level accepts, in spdlog's spelling.
inline constexpr const char* kLogLevels[] = {"trace", "debug", "info", "warn", "error", "critical",
                                             "off"};

// True when stderr is the service manager's journal stream ($JOURNAL_STREAM
// names the device and inode of our stderr).
bool StderrIsJournal();

[[nodiscard]] rams::Status SetUpLogging(const LogOptions& options);
// Opens the log file again (after SIGHUP); a no-op for stderr-only logging.
[[nodiscard]] rams::Status ReopenLog();
// True once SetUpLogging succeeded.
bool LoggingReady();

}  // namespace ramsd
