// SPDX-License-Identifier: MIT
#include "cli.h"

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace rams::cli {

int ExitCodeFor(int errno_code) {
  switch (errno_code) {
    case 0: return kExitOk;
    case EINVAL: case ENAMETOOLONG: case EFBIG: case ERANGE: return kExitUsage;
    case ENOENT: return kExitNotFound;
    case EACCES: case EPERM: case EROFS: return kExitDenied;
    case EEXIST: return kExitExists;
    case EBUSY: case ETIMEDOUT: case EDEADLK: return kExitBusy;
    default: return errno_code == EWOULDBLOCK ? kExitBusy : kExitError;
  }
}

int Report(const Status& s) { return ReportAs(ExitCodeFor(s.code()), s); }

namespace {

// The power of 1024 a size suffix names: "", "B", "K", "KiB", "KB", ... any case.
int SuffixShift(std::string suffix) {
  for (char& c : suffix) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  if (suffix.empty() || suffix == "b") return 0;
  static constexpr const char kUnits[] = "kmgt";
  for (int i = 0; i < 4; ++i) {
    const std::string unit(1, kUnits[i]);
    if (suffix == unit || suffix == unit + "ib" || suffix == unit + "b") return 10 * (i + 1);
  }
  return -1;
}

}  // namespace

Result<uint64_t> ParseSize(const std::string& text) {
  const bool hex = text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
  if (text.empty() || !isxdigit(static_cast<unsigned char>(text[hex ? 2 : 0])) ||
      (!hex && !isdigit(static_cast<unsigned char>(text[0])))) {
    return Error(EINVAL, "bad number '" + text + "'");
  }
  errno = 0;
  char* end = nullptr;
  unsigned long long v = strtoull(text.c_str(), &end, hex ? 16 : 10);  // "010" is ten
  if (errno == ERANGE) return Error(ERANGE, "number '" + text + "' overflows");
  if (errno != 0 || end == text.c_str()) return Error(EINVAL, "bad number '" + text + "'");
  int shift = SuffixShift(end);
  if (shift < 0 || (hex && shift > 0)) {
    return Error(EINVAL, "bad size suffix in '" + text + "' (use K, M, G or T)");
  }
  if (shift > 0 && v > (UINT64_MAX >> shift)) return Error(ERANGE, "size '" + text + "' overflows");
  return static_cast<uint64_t>(v) << shift;
}

Status WithContext(const std::string& what, const Status& s) {
  return Status(s.code(), what + ": " + s.message());
}

int ReportAs(int exit_code, const Status& s) {
  fprintf(stderr, "rams: %s\n", s.ToString().c_str());
  return exit_code;
}

int FinishOutput() {
  // Buffered output is only known to be written once it is flushed and closed.
  if (fflush(stdout) != 0 || ferror(stdout) != 0) {
    return Report(ErrnoError("writing to stdout"));
  }
  if (fclose(stdout) != 0) return Report(ErrnoError("closing stdout"));
  return kExitOk;
}

std::string ModeString(uint32_t mode) {
  std::string s = "-";
  const char* rwx = "rwx";
  for (int i = 8; i >= 0; --i) s += (mode & (1u << i)) ? rwx[(8 - i) % 3] : '-';
  return s;
}

nlohmann::json ToJson(const SegmentInfo& info) {
  char mode[8];
  snprintf(mode, sizeof mode, "%04o", info.mode);
  return nlohmann::json{{"name", info.name},
                        {"size_bytes", info.size_bytes},
                        {"owner_uid", info.owner_uid},
                        {"owner_gid", info.owner_gid},
                        {"mode", mode},
                        {"backend", info.backend},
                        {"created_unix_ns", info.created_unix_ns},
                        {"locks_held", info.locks_held}};
}

}  // namespace rams::cli
