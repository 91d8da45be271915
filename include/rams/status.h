/* SPDX-License-Identifier: MIT */
// Status and Result<T>: how every librams operation reports an operating
// error. A Status is either ok or carries an errno-style code (EINVAL, EBUSY,
// ...) plus a message that says what was attempted ("ftruncate rams.matrix:
// ENOSPC"). Result<T> holds a T or a non-ok Status. Programmer errors are not
// reported this way: they fail assertions.
//
// Thread safety: plain values; distinct objects may be used from distinct
// threads, one object needs external synchronization like any std type.
#pragma once

#include "rams/export.h"
RAMS_API_BEGIN

#include <cassert>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace rams {

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  Status(int code, std::string message) : code_(code), message_(std::move(message)) {
    assert(code != 0 && "an error Status needs a non-zero code");
  }

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == 0; }
  // errno-style code: 0 when ok.
  int code() const { return code_; }
  const std::string& message() const { return message_; }
  // "EBUSY: write rams.m [0, 64): range locked by another handle".
  std::string ToString() const;

  // Explicitly ignores the result (for best-effort cleanup paths).
  void IgnoreError() const {}

 private:
  int code_ = 0;
  std::string message_;
};

// Builds a Status with `code` and a message formed from `what` and the code's
// name, e.g. Error(ENOENT, "open segment m") -> "open segment m: ENOENT".
Status Error(int code, std::string_view what);
// The same from the current errno, for a failed syscall.
Status ErrnoError(std::string_view what);
// "ENOENT", "EBUSY", ... ("E123" for unknown codes).
std::string_view ErrnoName(int code);

template <class T>
class [[nodiscard]] Result {
 public:
  static_assert(!std::is_same_v<T, Status>, "use Status for Result<void>");

  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(v_).ok() && "Result from an ok Status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  // The error; an ok Status when a value is held.
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }
  int code() const { return ok() ? 0 : std::get<Status>(v_).code(); }

  // REQUIRES: ok().
  T& value() & { assert(ok()); return std::get<T>(v_); }
  const T& value() const& { assert(ok()); return std::get<T>(v_); }
  T&& value() && { assert(ok()); return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace rams

#define RAMS_CONCAT_INNER_(a, b) a##b
#define RAMS_CONCAT_(a, b) RAMS_CONCAT_INNER_(a, b)

// Returns the Status of `expr` from the enclosing function when it is an error.
#define RAMS_RETURN_IF_ERROR(expr)              \
  do {                                          \
    ::rams::Status rams_status_ = (expr);       \
    if (!rams_status_.ok()) return rams_status_; \
  } while (0)

// `lhs = *expr` when ok, else returns the error from the enclosing function.
#define RAMS_ASSIGN_OR_RETURN(lhs, expr) \
  RAMS_ASSIGN_OR_RETURN_IMPL_(RAMS_CONCAT_(rams_result_, __LINE__), lhs, expr)
#define RAMS_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()

RAMS_API_END
