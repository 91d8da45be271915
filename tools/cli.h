/* SPDX-License-Identifier: MIT */
// Shared pieces of the `rams` command-line tool: exit codes, the mapping from
// errors to them, number parsing with size suffixes, and JSON output of
// segment information.
//
// Thread safety: the tool is single-threaded.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "rams/backend.h"
#include "rams/status.h"

namespace rams::cli {

// Exit codes, documented in `rams --help` and docs/cli.md.
enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,      // any other failure (I/O, system limits)
  kExitUsage = 2,      // bad command line or invalid argument (EINVAL, ENAMETOOLONG, EFBIG)
  kExitNotFound = 3,   // no such segment (ENOENT)
  kExitDenied = 4,     // permission denied (EACCES, EPERM)
  kExitExists = 5,     // segment exists (EEXIST)
  kExitBusy = 6,       // a range lock held by another, or timed out (EBUSY, EWOULDBLOCK, ETIMEDOUT)
};

inline constexpr const char* kExitCodesHelp =
    "Exit codes: 0 ok, 1 error, 2 usage or invalid argument, 3 no such segment,\n"
    "4 permission denied, 5 segment exists, 6 locked or timed out.";

// Prints "rams: <message>" to stderr and returns the exit code for `s`.
int Report(const Status& s);
// The same with a chosen exit code (when the errno would mislead, e.g. a
// missing key file is not "no such segment").
int ReportAs(int exit_code, const Status& s);
int ExitCodeFor(int errno_code);
// `s` with "WHAT: " in front of its message, code unchanged (the errno name
// stays printed once, at the end).
Status WithContext(const std::string& what, const Status& s);
// Flushes and closes stdout; reports a failed write (a full disk, a closed
// pipe) and returns its exit code, else kExitOk. Call once, at exit.
int FinishOutput();

// Parses decimal "4096", "010" (ten), "4K", "64KiB", "1m", "2g", "1T": suffixes
// are powers of 1024 in any case (K, KiB, KB); "0x1000" is hex, without suffix.
Result<uint64_t> ParseSize(const std::string& text);

nlohmann::json ToJson(const SegmentInfo& info);
// "-rw-r-----" style permission string.
std::string ModeString(uint32_t mode);

}  // namespace rams::cli
