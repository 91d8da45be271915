/* SPDX-License-Identifier: MIT */
// The checkpoint journal: the write-ahead log of what the checkpoint saved.
// One file, `<checkpoint area>/.fss.journal`: a 64-byte header (magic,
// version, checkpoint generation, CRC-32C) followed by records, each a
// 88-byte fixed header (magic, kind, lengths, metadata, CRC-32C over header
// and payload) and a payload of three strings (path, location, target).
// A record is written before the change it protects is made, and made
// durable (fdatasync) either at once (Append) or together with the records
// written before it (Write, then Sync: group commit, see checkpoint.h).
// Reading tells two kinds of bad bytes apart. A torn tail (a crash during an
// append: fewer bytes than the record claims, or zeros) is cut, because its
// change was never made. Anything else (a bad header, a bad record with bytes
// after it) is damage: the reader reports it, and resynchronizes on the next
// record whose magic and checksum hold, so every record that can be trusted
// is still returned; nothing is cut or deleted. A new journal is
// written atomically (temp file, fsync, rename, fsync of the directory).
// All integers are little-endian.
//
// Thread safety: a Journal is used by one thread at a time (the checkpoint
// engine serializes it); the static functions are reentrant.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fd.h"
#include "rams/status.h"

namespace rams::fss {

static_assert(std::endian::native == std::endian::little, "journal layout is little-endian");

inline constexpr uint64_t kJournalMagic = 0x314A535346534D52ull;  // "RMSFSSJ1"
inline constexpr uint32_t kJournalVersion = 1;
inline constexpr uint32_t kRecordMagic = 0x43455246u;  // "FREC"
inline constexpr char kJournalName[] = ".fss.journal";
// Bound on one record's payload (paths, and the names of a file's links).
inline constexpr uint32_t kMaxRecordPayloadBytes = 1 << 20;

enum class RecordKind : uint16_t {
  kAbsent = 1,    // the path did not exist
  kFile = 2,      // a regular file, copied to `location`
  kSymlink = 3,   // a symlink to `target`
  kDirTree = 4,   // a directory and everything beneath it, copied to `location`
  kDirMeta = 5,   // a directory's own metadata (mode, owner, times) only
  kHardLink = 6,  // a hard link of the file saved at path `target`
};

struct Record {
  RecordKind kind = RecordKind::kAbsent;
  std::string path;      // canonical root-relative path
  std::string location;  // relative to the checkpoint area (kFile, kDirTree)
  std::string target;    // symlink target (kSymlink), saved link (kHardLink), the
                         // inode's other names, '\0'-separated (kFile)
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t atime_ns = 0;
  int64_t mtime_ns = 0;
  uint64_t size_bytes = 0;
  uint64_t ino = 0;  // inode and device (kFile): hard links are saved once per inode
  uint64_t dev = 0;
  uint64_t seq = 0;
};

struct JournalHeader {
  uint64_t magic;
  uint32_t version;
  uint32_t header_bytes;
  uint64_t generation;
  int64_t created_unix_ns;
  uint32_t reserved[7];  // must be zero
  uint32_t crc32c;       // over the bytes before it
};
static_assert(sizeof(JournalHeader) == 64);

struct RecordHeader {
  uint32_t magic;
  uint16_t kind;
  uint16_t reserved0;  // must be zero
  uint32_t path_bytes;
  uint32_t location_bytes;
  uint32_t target_bytes;
  uint32_t mode;
  uint32_t uid;
  uint32_t gid;
  uint64_t seq;
  int64_t atime_ns;
  int64_t mtime_ns;
  uint64_t size_bytes;
  uint64_t ino;
  uint64_t dev;
  uint32_t reserved1;  // must be zero
  uint32_t crc32c;     // over this header (crc32c = 0) and the payload
};
static_assert(sizeof(RecordHeader) == 88);
static_assert(offsetof(RecordHeader, seq) == 32);
static_assert(offsetof(RecordHeader, ino) == 64);
static_assert(offsetof(RecordHeader, crc32c) == 84);

// Serializes a record (header + payload).
std::string EncodeRecord(const Record& record);
// Parses one record from the front of `bytes`; returns the bytes it used, or
// 0 when `bytes` does not start with a whole valid record.
size_t DecodeRecord(const char* bytes, size_t len, Record* out);

struct JournalContents {
  uint64_t generation = 0;
  std::vector<Record> records;
  uint64_t valid_bytes = 0;  // header plus the valid records
  bool torn_tail = false;    // bytes after the last valid record
  // Empty when the journal is whole; else what is wrong ("header is corrupt",
  // "record at byte 4242 is corrupt, 3 records after it kept"). A damaged
  // journal's generation may be 0 (unknown).
  std::string damage;
};

class Journal {
 public:
  // Writes a fresh, empty journal for `generation` atomically.
  static Status Create(int dirfd, uint64_t generation);
  // Reads the journal. ENOENT when there is none; damage is reported in
  // JournalContents::damage, not as an error.
  static Result<JournalContents> Read(int dirfd);
  // Opens for appending; cuts a torn tail at `valid_bytes` first.
  static Result<Journal> OpenForAppend(int dirfd, uint64_t valid_bytes);

  // Appends the record and makes it durable, with every record written
  // before it, before returning. On failure the journal is cut back, so a
  // later append never follows a partial record.
  Status Append(const Record& record);
  // Writes the record into the file (the page cache: it survives the death
  // of any process, not a power loss) without waiting for the disk. On
  // failure the journal is cut back as for Append.
  Status Write(const Record& record);
  // Makes every record written so far durable (one fdatasync).
  Status Sync();
  // Records written but not yet durable.
  size_t unsynced() const { return unsynced_; }

 private:
  Journal(sys::UniqueFd fd, uint64_t end) : fd_(std::move(fd)), end_(end) {}
  sys::UniqueFd fd_;
  uint64_t end_;  // offset after the last whole record written
  size_t unsynced_ = 0;
};

}  // namespace rams::fss
