// SPDX-License-Identifier: MIT
// Status formatting and errno naming (glibc's names; elsewhere those of the
// protocol's table, wire/errno_codes.h).
#include "rams/status.h"

#include <cerrno>
#include <cstring>
#include <string>

#include "wire/errno_codes.h"

namespace rams {

std::string_view ErrnoName(int code) {
#ifdef __GLIBC__
  const char* name = strerrorname_np(code);
#else
  // strerrorname_np is glibc's; elsewhere the protocol's table names the codes.
  const char* name = wire::ErrnoCodeName(code);
#endif
  if (name != nullptr) return name;
  thread_local std::string unknown;
  unknown = "E" + std::to_string(code);
  return unknown;
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return message_;
}

Status Error(int code, std::string_view what) {
  std::string message(what);
  const std::string_view name = ErrnoName(code);
  // A message that already ends in the name (a wrapped Status) keeps one.
  const bool named = message.size() > name.size() + 1 && message.ends_with(name) &&
                     message[message.size() - name.size() - 1] == ' ';
  if (!named) {
    message += ": ";
    message += name;
  }
  return Status(code, std::move(message));
}

Status ErrnoError(std::string_view what) {
  int code = errno;
  if (code == 0) code = EIO;
  return Error(code, what);
}

}  // namespace rams
