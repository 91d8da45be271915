/* SPDX-License-Identifier: MIT */
// The protocol's status codes (docs/protocol.md §6) and the platform's errno.
// The codes on the wire are the protocol's own; they were chosen equal to
// Linux's errno values, so on Linux the mapping is the identity (asserted at
// compile time in errno_codes.cc), while elsewhere many differ: with mingw-w64
// on Windows, ETIMEDOUT is 138 where the protocol's is 110, ECONNRESET 108
// where it is 104, and EWOULDBLOCK and ENOTSUP are codes of their own where
// the protocol folds them into EAGAIN (11) and EOPNOTSUPP (95).
//
// One table (kErrnoCodes) names every code both sides know; a code on the
// wire that it lacks becomes EIO off Linux (a hostile or newer server cannot
// make the client misread it as some unrelated local code).
//
// Thread safety: constant data and pure functions.
#pragma once

#include <cstdint>
#include <span>

namespace rams::wire {

// X(NAME, protocol code). Aliases (EWOULDBLOCK, ENOTSUP, EDEADLOCK) follow in
// kErrnoCodes after the name they alias, so the canonical name wins when a
// protocol code is mapped to the platform.
#define RAMS_PROTOCOL_ERRNO_CODES(X) \
  X(EPERM, 1) \
  X(ENOENT, 2) \
  X(ESRCH, 3) \
  X(EINTR, 4) \
  X(EIO, 5) \
  X(ENXIO, 6) \
  X(E2BIG, 7) \
  X(ENOEXEC, 8) \
  X(EBADF, 9) \
  X(ECHILD, 10) \
  X(EAGAIN, 11) \
  X(ENOMEM, 12) \
  X(EACCES, 13) \
  X(EFAULT, 14) \
  X(EBUSY, 16) \
  X(EEXIST, 17) \
  X(EXDEV, 18) \
  X(ENODEV, 19) \
  X(ENOTDIR, 20) \
  X(EISDIR, 21) \
  X(EINVAL, 22) \
  X(ENFILE, 23) \
  X(EMFILE, 24) \
  X(ENOTTY, 25) \
  X(ETXTBSY, 26) \
  X(EFBIG, 27) \
  X(ENOSPC, 28) \
  X(ESPIPE, 29) \
  X(EROFS, 30) \
  X(EMLINK, 31) \
  X(EPIPE, 32) \
  X(EDOM, 33) \
  X(ERANGE, 34) \
  X(EDEADLK, 35) \
  X(ENAMETOOLONG, 36) \
  X(ENOLCK, 37) \
  X(ENOSYS, 38) \
  X(ENOTEMPTY, 39) \
  X(ELOOP, 40) \
  X(ENOMSG, 42) \
  X(EIDRM, 43) \
  X(ENOSTR, 60) \
  X(ENODATA, 61) \
  X(ETIME, 62) \
  X(ENOSR, 63) \
  X(ENOLINK, 67) \
  X(EPROTO, 71) \
  X(EBADMSG, 74) \
  X(EOVERFLOW, 75) \
  X(EILSEQ, 84) \
  X(ENOTSOCK, 88) \
  X(EDESTADDRREQ, 89) \
  X(EMSGSIZE, 90) \
  X(EPROTOTYPE, 91) \
  X(ENOPROTOOPT, 92) \
  X(EPROTONOSUPPORT, 93) \
  X(EOPNOTSUPP, 95) \
  X(EAFNOSUPPORT, 97) \
  X(EADDRINUSE, 98) \
  X(EADDRNOTAVAIL, 99) \
  X(ENETDOWN, 100) \
  X(ENETUNREACH, 101) \
  X(ENETRESET, 102) \
  X(ECONNABORTED, 103) \
  X(ECONNRESET, 104) \
  X(ENOBUFS, 105) \
  X(EISCONN, 106) \
  X(ENOTCONN, 107) \
  X(ETIMEDOUT, 110) \
  X(ECONNREFUSED, 111) \
  X(EHOSTUNREACH, 113) \
  X(EALREADY, 114) \
  X(EINPROGRESS, 115) \
  X(ECANCELED, 125) \
  X(EOWNERDEAD, 130) \
  X(ENOTRECOVERABLE, 131)

struct ErrnoCode {
  const char* name;  // "ETIMEDOUT"
  uint32_t wire;     // the protocol's code (Linux's value)
  int local;         // this platform's errno value
};

// Every code, in protocol order, aliases after their canonical name.
std::span<const ErrnoCode> ErrnoCodes();

// The platform errno for a status code read from the wire: its table entry,
// else (off Linux) EIO. 0 stays 0.
int ErrnoFromWire(uint32_t wire);
// The status code to send for a platform errno: its table entry, else (off
// Linux) EIO's code.
uint32_t ErrnoToWire(int local);
// "ETIMEDOUT" for the platform's ETIMEDOUT; nullptr when the table lacks it.
const char* ErrnoCodeName(int local);

}  // namespace rams::wire
