// SPDX-License-Identifier: MIT
// A program outside the rams tree, built against an installed rams.
#include <rams/rams.h>
#include <rams/segment.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

int main() {
  std::string name = "t-consumer-" + std::to_string(getpid());
  auto seg = rams::Segment::Create(name, 4096, 0600, true);
  if (!seg.ok()) {
    fprintf(stderr, "%s\n", seg.status().ToString().c_str());
    return 1;
  }
  const char msg[] = "installed";
  bool ok = seg->Write(0, std::as_bytes(std::span(msg))).ok();
  rams_segment* c = nullptr;
  char back[sizeof msg] = {};
  ok = ok && rams_segment_open(name.c_str(), 0, 0, 0, &c) == 0 &&
       rams_segment_read(c, 0, back, sizeof back) == 0 && strcmp(back, msg) == 0;
  rams_segment_close(c);
  ok = ok && rams::Segment::Remove(name).ok();
  printf("consumer: %s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
