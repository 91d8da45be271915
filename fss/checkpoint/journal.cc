// SPDX-License-Identifier: MIT
// Journal encoding, atomic creation, reading and durable appends.
#include "journal.h"

#include <fcntl.h>

#include <algorithm>
#include <cstring>
#include <ctime>

#include "crc32c.h"

namespace rams::fss {
using internal::Crc32c;

namespace {

int64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

Status WriteAll(int fd, const char* p, size_t n, const char* what) {
  while (n > 0) {
    ssize_t w = sys::RetryEintr([&] { return ::write(fd, p, n); });
    if (w < 0) return ErrnoError(what);
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Status::Ok();
}

Result<std::string> ReadWhole(int fd) {
  std::string data;
  char buf[65536];
  for (;;) {
    ssize_t n = sys::RetryEintr([&] { return ::read(fd, buf, sizeof(buf)); });
    if (n < 0) return ErrnoError("read journal");
    if (n == 0) return data;
    data.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

std::string EncodeRecord(const Record& r) {
  RecordHeader h = {};
  h.magic = kRecordMagic;
  h.kind = static_cast<uint16_t>(r.kind);
  h.path_bytes = static_cast<uint32_t>(r.path.size());
  h.location_bytes = static_cast<uint32_t>(r.location.size());
  h.target_bytes = static_cast<uint32_t>(r.target.size());
  h.mode = r.mode;
  h.uid = r.uid;
  h.gid = r.gid;
  h.seq = r.seq;
  h.atime_ns = r.atime_ns;
  h.mtime_ns = r.mtime_ns;
  h.size_bytes = r.size_bytes;
  h.ino = r.ino;
  h.dev = r.dev;
  std::string out(reinterpret_cast<const char*>(&h), sizeof(h));
  out += r.path;
  out += r.location;
  out += r.target;
  uint32_t crc = Crc32c(out.data(), out.size());
  std::memcpy(out.data() + offsetof(RecordHeader, crc32c), &crc, sizeof(crc));
  return out;
}

size_t DecodeRecord(const char* bytes, size_t len, Record* out) {
  RecordHeader h;
  if (len < sizeof(h)) return 0;
  std::memcpy(&h, bytes, sizeof(h));
  if (h.magic != kRecordMagic || h.reserved0 != 0 || h.reserved1 != 0) return 0;
  if (h.kind < 1 || h.kind > static_cast<uint16_t>(RecordKind::kHardLink)) return 0;
  uint64_t payload = uint64_t{h.path_bytes} + h.location_bytes + h.target_bytes;
  if (payload > kMaxRecordPayloadBytes || len - sizeof(h) < payload) return 0;
  RecordHeader zeroed = h;
  zeroed.crc32c = 0;
  uint32_t crc = Crc32c(&zeroed, sizeof(zeroed));
  crc = Crc32c(bytes + sizeof(h), payload, crc);
  if (crc != h.crc32c) return 0;
  const char* p = bytes + sizeof(h);
  out->kind = static_cast<RecordKind>(h.kind);
  out->path.assign(p, h.path_bytes);
  out->location.assign(p + h.path_bytes, h.location_bytes);
  out->target.assign(p + h.path_bytes + h.location_bytes, h.target_bytes);
  out->mode = h.mode;
  out->uid = h.uid;
  out->gid = h.gid;
  out->seq = h.seq;
  out->atime_ns = h.atime_ns;
  out->mtime_ns = h.mtime_ns;
  out->size_bytes = h.size_bytes;
  out->ino = h.ino;
  out->dev = h.dev;
  return sizeof(h) + payload;
}

Status Journal::Create(int dirfd, uint64_t generation) {
  JournalHeader h = {};
  h.magic = kJournalMagic;
  h.version = kJournalVersion;
  h.header_bytes = sizeof(h);
  h.generation = generation;
  h.created_unix_ns = NowNs();
  h.crc32c = Crc32c(&h, offsetof(JournalHeader, crc32c));
  std::string tmp = std::string(kJournalName) + ".tmp";
  sys::UniqueFd fd(::openat(dirfd, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoError("create journal");
  RAMS_RETURN_IF_ERROR(WriteAll(fd.get(), reinterpret_cast<const char*>(&h), sizeof(h), "write journal"));
  RAMS_RETURN_IF_ERROR(SyncFd(fd.get(), "journal"));
  if (::renameat(dirfd, tmp.c_str(), dirfd, kJournalName) != 0) return ErrnoError("rename journal");
  return SyncFd(dirfd, "checkpoint area");
}

namespace {

// Whether the `n` bytes after the last good record are what a crash during
// an append leaves: less than a record header, zeros, or a record header
// claiming at least the bytes that are there.
bool IsTornTail(const char* p, size_t n) {
  if (n < sizeof(RecordHeader)) return true;
  if (std::all_of(p, p + n, [](char c) { return c == 0; })) return true;
  RecordHeader h;
  std::memcpy(&h, p, sizeof(h));
  uint64_t payload = uint64_t{h.path_bytes} + h.location_bytes + h.target_bytes;
  return h.magic == kRecordMagic && sizeof(h) + payload >= n;
}

// The offset of the next whole valid record at or after `from`, or `size`.
size_t NextValidRecord(const std::string& data, size_t from) {
  for (size_t q = from; q + sizeof(RecordHeader) <= data.size(); ++q) {
    uint32_t magic;
    std::memcpy(&magic, data.data() + q, sizeof(magic));
    Record r;
    if (magic == kRecordMagic && DecodeRecord(data.data() + q, data.size() - q, &r) != 0) return q;
  }
  return data.size();
}

// Decodes the records from `pos` on; damage goes to out->damage.
void ReadRecords(const std::string& data, size_t pos, JournalContents* out) {
  size_t good_end = pos;
  while (pos < data.size()) {
    Record r;
    size_t used = DecodeRecord(data.data() + pos, data.size() - pos, &r);
    if (used != 0) {
      out->records.push_back(std::move(r));
      pos += used;
      if (out->damage.empty()) good_end = pos;
      continue;
    }
    if (out->damage.empty() && IsTornTail(data.data() + pos, data.size() - pos)) break;
    if (out->damage.empty()) out->damage = "record at byte " + std::to_string(pos) + " is corrupt";
    pos = NextValidRecord(data, pos + 1);
  }
  out->valid_bytes = good_end;
  out->torn_tail = out->damage.empty() && good_end != data.size();
}

}  // namespace

Result<JournalContents> Journal::Read(int dirfd) {
  sys::UniqueFd fd(::openat(dirfd, kJournalName, O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return ErrnoError("open journal");
  RAMS_ASSIGN_OR_RETURN(std::string data, ReadWhole(fd.get()));
  JournalHeader h = {};
  JournalContents out;
  if (data.size() >= sizeof(h)) std::memcpy(&h, data.data(), sizeof(h));
  if (data.size() < sizeof(h) || h.magic != kJournalMagic || h.header_bytes != sizeof(h) ||
      h.crc32c != Crc32c(&h, offsetof(JournalHeader, crc32c))) {
    out.damage = "header is corrupt";
  } else if (h.version != kJournalVersion) {
    return Error(EPROTO, "journal version unknown");
  } else {
    out.generation = h.generation;
  }
  ReadRecords(data, std::min(data.size(), sizeof(h)), &out);
  if (!out.damage.empty()) out.damage += ", " + std::to_string(out.records.size()) + " valid records kept";
  return out;
}

Result<Journal> Journal::OpenForAppend(int dirfd, uint64_t valid_bytes) {
  sys::UniqueFd fd(::openat(dirfd, kJournalName, O_WRONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return ErrnoError("open journal");
  if (::ftruncate(fd.get(), static_cast<off_t>(valid_bytes)) != 0) return ErrnoError("cut journal tail");
  RAMS_RETURN_IF_ERROR(SyncFd(fd.get(), "journal"));
  return Journal(std::move(fd), valid_bytes);
}

Status Journal::Write(const Record& record) {
  std::string bytes = EncodeRecord(record);
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t w = sys::RetryEintr([&] {
      return ::pwrite(fd_.get(), bytes.data() + done, bytes.size() - done,
                      static_cast<off_t>(end_ + done));
    });
    if (w < 0) break;
    done += static_cast<size_t>(w);
  }
  if (done == bytes.size()) {
    end_ += bytes.size();
    ++unsynced_;
    return Status::Ok();
  }
  Status failed = ErrnoError("append journal");
  if (::ftruncate(fd_.get(), static_cast<off_t>(end_)) != 0) return ErrnoError("cut journal after failed append");
  return failed;
}

Status Journal::Sync() {
  if (unsynced_ == 0) return Status::Ok();
  if (sys::RetryEintr([&] { return ::fdatasync(fd_.get()); }) != 0) return ErrnoError("sync journal");
  unsynced_ = 0;
  return Status::Ok();
}

Status Journal::Append(const Record& record) {
  uint64_t start = end_;
  RAMS_RETURN_IF_ERROR(Write(record));
  Status s = Sync();
  if (s.ok()) return s;
  // Not durable: cut it, so that the caller's refusal of the change holds.
  end_ = start;
  --unsynced_;
  if (::ftruncate(fd_.get(), static_cast<off_t>(end_)) != 0) return ErrnoError("cut journal after failed append");
  return s;
}

}  // namespace rams::fss
