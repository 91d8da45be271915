/* SPDX-License-Identifier: MIT */
// The local protocol between a process and its host pager, on a Unix
// SOCK_SEQPACKET socket: OPEN a segment by name (the pager checks the
// caller's SO_PEERCRED against the segment's owner and mode and answers with
// the host's memfd for it), REGISTER the caller's userfaultfd for the mapping
// it made (the descriptor travels with SCM_RIGHTS), FLUSH the host's dirty
// pages, CHECK what became of the segment since the connection last asked
// (EOWNERDEAD once after the home reported pages of it lost with another
// host; the lost session's error once the host's copy is gone; FLUSH
// answers the same after its write-back). OPEN also hands out the mapping's
// owner domain and the host index of the caller's PID namespace
// (docs/remote-mapping.md "Owners across hosts"). Fixed little-endian
// layouts; the pager treats every byte and
// descriptor a process sends as hostile.
//
// Thread safety: stateless functions on caller-owned descriptors.
#pragma once

#include <cstdint>
#include <string_view>

#include "rams/status.h"
#include "sys/sys.h"

namespace rams::mapping {

inline constexpr uint32_t kPagerMagic = 0x50534d52;  // "RMSP"
inline constexpr uint32_t kPagerVersion = 2;
// Segment names as the pager knows them: "HOST:PORT/NAME" for a segment of
// the ramsd at HOST:PORT (what RemoteAttachment::Map asks for).
inline constexpr size_t kPagerNameBytes = 256;

enum class PagerOp : uint32_t { kOpen = 1, kRegister = 2, kFlush = 3, kCheck = 4 };

inline constexpr uint32_t kOpenWrite = 1;        // OPEN flag: map read-write
inline constexpr uint32_t kRegisterWp = 1;       // REGISTER flag: registered with MODE_WP
inline constexpr uint32_t kRegisterUserOnly = 2; // REGISTER flag: UFFD_USER_MODE_ONLY

struct PagerRequest {
  uint32_t magic;
  uint32_t version;
  uint32_t op;     // PagerOp
  uint32_t flags;
  uint64_t addr;   // REGISTER: where the process mapped the memfd
  uint64_t len;    // REGISTER: the length it mapped
  char name[kPagerNameBytes];  // OPEN: NUL-padded segment name
  uint64_t domain; // OPEN: the process's PID-namespace domain (0: none known)
};
static_assert(sizeof(PagerRequest) == 296);

struct PagerReply {
  uint32_t magic;
  int32_t error;          // 0 or an errno
  uint64_t size_bytes;    // OPEN: the segment's size
  uint64_t uffd_features; // OPEN: UFFD_FEATURE_* bits to ask for at UFFDIO_API
  uint32_t read_only;     // OPEN: 1 when the mapping must be PROT_READ
  uint32_t write_protect; // OPEN: 1 when the range must be registered with MODE_WP
  uint64_t owner_domain;  // OPEN: the segment's mapping domain, 0: none (owner_domain.h)
  uint32_t owner_index;   // OPEN: this process's host index in it
  uint32_t reserved;
};
static_assert(sizeof(PagerReply) == 48);

// Sends one message, with descriptor `fd` attached when fd >= 0.
Status SendMessage(int sock, const void* msg, size_t len, int fd);
// Receives one message of exactly `len` bytes (EPROTO otherwise; ECONNRESET
// at end of stream) and the descriptor attached to it, if any (*fd_out stays
// invalid when none came; extra descriptors are closed).
Status ReceiveMessage(int sock, void* msg, size_t len, sys::UniqueFd* fd_out);

// A connected client socket for `path` ('@' first: abstract namespace).
Result<sys::UniqueFd> ConnectPager(std::string_view path);
// A listening socket at `path` (a file path is unlinked first).
Result<sys::UniqueFd> ListenPager(std::string_view path);

}  // namespace rams::mapping
