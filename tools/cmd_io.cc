// SPDX-License-Identifier: MIT
// The commands that move bytes, on local and remote targets (target.h):
// read, write. Also in the remote-only client (the Windows build).
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <string>
#include <vector>

#ifdef _WIN32
#include <fcntl.h>
#include <io.h>
#endif

#include "cli.h"
#include "commands.h"
#include "target.h"

namespace rams::cli {
namespace {

// Largest read done as one atomic call; longer reads go in pieces of this.
constexpr uint64_t kMaxAtomicReadBytes = uint64_t{64} << 20;

void HexDump(const std::vector<std::byte>& bytes, uint64_t base) {
  for (size_t row = 0; row < bytes.size(); row += 16) {
    printf("%08" PRIx64 "  ", base + row);
    for (size_t i = 0; i < 16; ++i) {
      if (row + i < bytes.size()) printf("%02x ", static_cast<unsigned>(bytes[row + i]));
      else printf("   ");
      if (i == 7) printf(" ");
    }
    printf(" |");
    for (size_t i = 0; i < 16 && row + i < bytes.size(); ++i) {
      auto c = static_cast<unsigned char>(bytes[row + i]);
      putchar(c >= 0x20 && c < 0x7f ? c : '.');
    }
    printf("|\n");
  }
}

Result<uint64_t> ParseOpt(const std::string& text, uint64_t fallback) {
  if (text.empty()) return fallback;
  return ParseSize(text);
}

// Windows' C runtime translates "\n" in text mode: stdin and stdout carry
// raw bytes.
void BinaryStdio() {
#ifdef _WIN32
  _setmode(_fileno(stdin), _O_BINARY);
  _setmode(_fileno(stdout), _O_BINARY);
#endif
}

int Read(const GlobalOptions& g, const std::string& target, const std::string& off_text,
         const std::string& len_text, bool hex) {
  BinaryStdio();
  auto seg = OpenTarget(target, g.backend, /*read_only=*/true);
  if (!seg.ok()) return Report(seg.status());
  auto off = ParseOpt(off_text, 0);
  if (!off.ok()) return Report(WithContext("read " + target + ": offset", off.status()));
  uint64_t rest = *off <= seg->size() ? seg->size() - *off : 0;
  auto len = ParseOpt(len_text, rest);
  if (!len.ok()) return Report(WithContext("read " + target + ": length", len.status()));
  for (uint64_t done = 0; done < *len || done == 0; ) {
    uint64_t n = std::min(*len - done, kMaxAtomicReadBytes);
    std::vector<std::byte> buf(n);
    Status s = seg->Read(*off + done, buf);
    if (!s.ok()) return Report(s);
    if (hex) {
      HexDump(buf, *off + done);
    } else if (n > 0 && fwrite(buf.data(), 1, n, stdout) != n) {
      return Report(ErrnoError("read " + target + ": writing to stdout"));
    }
    done += n;
    if (n == 0) break;
  }
  return fflush(stdout) == 0 ? kExitOk : Report(ErrnoError("read: flushing stdout"));
}

int Write(const GlobalOptions& g, const std::string& target, const std::string& off_text) {
  BinaryStdio();
  auto seg = OpenTarget(target, g.backend);
  if (!seg.ok()) return Report(seg.status());
  auto off = ParseOpt(off_text, 0);
  if (!off.ok()) return Report(WithContext("write " + target + ": offset", off.status()));
  uint64_t room = *off <= seg->size() ? seg->size() - *off : 0;
  std::vector<std::byte> data;
  std::byte chunk[65536];
  for (;;) {
    const size_t n = fread(chunk, 1, sizeof chunk, stdin);
    if (n == 0 && ferror(stdin)) return Report(ErrnoError("write " + target + ": reading stdin"));
    if (n == 0) break;
    if (data.size() + n > room) {
      return Report(Error(EINVAL, "write " + target + ": input is longer than the " +
                                      std::to_string(room) + " bytes from offset " +
                                      std::to_string(*off) + " to the end; nothing written"));
    }
    data.insert(data.end(), chunk, chunk + n);
  }
  Status s = seg->Write(*off, data);  // one call: atomic with respect to readers
  return s.ok() ? kExitOk : Report(s);
}

// The parsed arguments of the commands (the tool runs one).
struct IoArgs {
  std::string r_target;
  std::string r_off;
  std::string r_len;
  bool r_hex{false};
  std::string w_target;
  std::string w_off;
};
IoArgs io_args;

}  // namespace

void AddIoCommands(CLI::App& app, GlobalOptions& g, int& rc) {
  auto* read = app.add_subcommand("read", "Write a segment's bytes to stdout");
  read->add_option("NAME", io_args.r_target, "segment name")->required();
  read->add_option("OFF", io_args.r_off, "offset (default 0)");
  read->add_option("LEN", io_args.r_len, "length (default: to the end)");
  read->add_flag("--hex", io_args.r_hex, "hex dump instead of raw bytes");
  read->callback([&] { rc = Read(g, io_args.r_target, io_args.r_off, io_args.r_len, io_args.r_hex); });

  auto* write = app.add_subcommand("write", "Write stdin into a segment, as one atomic write");
  write->add_option("NAME", io_args.w_target, "segment name")->required();
  write->add_option("OFF", io_args.w_off, "offset (default 0)");
  write->callback([&] { rc = Write(g, io_args.w_target, io_args.w_off); });

}

}  // namespace rams::cli
