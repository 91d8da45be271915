#include "cli.h"

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

int Report(const Status& s) {
  fprintf(stderr, "rams: %s\n", s.ToString().c_str());
  return ExitCodeFor(s.code());
}

Result<uint64_t> ParseSize(const std::string& text) {
  if (text.empty() || text[0] == '-') return Error(EINVAL, "bad number '" + text + "'");
  errno = 0;
  char* end = nullptr;
  unsigned long long v = strtoull(text.c_str(), &end, 0);
  if (errno != 0 || end == text.c_str()) return Error(EINVAL, "bad number '" + text + "'");
  std::string suffix(end);
  int shift = 0;
  if (suffix.empty() || suffix == "B") shift = 0;
  else if (suffix == "K" || suffix == "KiB" || suffix == "k") shift = 10;
  else if (suffix == "M" || suffix == "MiB") shift = 20;
  else if (suffix == "G" || suffix == "GiB") shift = 30;
  else if (suffix == "T" || suffix == "TiB") shift = 40;
  else return Error(EINVAL, "bad size suffix in '" + text + "' (use K, M, G or T)");
  if (shift > 0 && v > (UINT64_MAX >> shift)) return Error(ERANGE, "size '" + text + "' overflows");
  return static_cast<uint64_t>(v) << shift;
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
