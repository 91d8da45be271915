// SPDX-License-Identifier: MIT
// RemoteBatch: pipelined operations with a bounded window in flight.
#include <cerrno>
#include <deque>

#include "rams/remote.h"
#include "remote/connection.h"
#include "check.h"

namespace rams {

using remote_internal::Call;

namespace {
// In flight at once: enough to fill a round trip with small operations, few
// enough that the request bytes fit in the socket buffers, so that a server
// pausing its reads (back-pressure) never meets a client blocked in send.
constexpr size_t kWindowOps = 64;
constexpr size_t kWindowBytes = 4u << 20;
}  // namespace

struct RemoteBatch::Op {
  RemoteAttachment* seg = nullptr;
  Call call;
  wire::Bytes fixed;
  std::span<const std::byte> data;
  uint64_t* previous = nullptr;  // CAS, FETCH_ADD
};

void RemoteBatch::Read(RemoteAttachment& seg, uint64_t offset, std::span<std::byte> out) {
  RAMS_CHECK(out.size() <= wire::kMaxIoBytes);
  auto op = std::make_shared<Op>();
  op->seg = &seg;
  op->call.opcode = wire::Opcode::kRead;
  op->call.read_into = out;
  wire::ReadRequest{.handle = seg.handle_, .length = static_cast<uint32_t>(out.size()),
                    .offset = offset}
      .EncodeTo(&op->fixed);
  ops_.push_back(std::move(op));
}

void RemoteBatch::Write(RemoteAttachment& seg, uint64_t offset, std::span<const std::byte> in) {
  RAMS_CHECK(in.size() <= wire::kMaxIoBytes);
  auto op = std::make_shared<Op>();
  op->seg = &seg;
  op->call.opcode = wire::Opcode::kWrite;
  wire::WriteRequest{.handle = seg.handle_, .offset = offset}.EncodeFixedTo(&op->fixed);
  op->data = in;
  ops_.push_back(std::move(op));
}

void RemoteBatch::FetchAdd(RemoteAttachment& seg, uint64_t offset, uint64_t addend,
                           uint64_t* previous) {
  auto op = std::make_shared<Op>();
  op->seg = &seg;
  op->call.opcode = wire::Opcode::kFetchAdd;
  op->previous = previous;
  wire::FetchAddRequest{.handle = seg.handle_, .offset = offset, .addend = addend}.EncodeTo(
      &op->fixed);
  ops_.push_back(std::move(op));
}

void RemoteBatch::CompareExchange(RemoteAttachment& seg, uint64_t offset, uint64_t expected,
                                  uint64_t desired, uint64_t* previous) {
  auto op = std::make_shared<Op>();
  op->seg = &seg;
  op->call.opcode = wire::Opcode::kCas;
  op->previous = previous;
  wire::CasRequest{.handle = seg.handle_, .offset = offset, .expected = expected,
                   .desired = desired}
      .EncodeTo(&op->fixed);
  ops_.push_back(std::move(op));
}

Status RemoteBatch::Run() {
  statuses_.assign(ops_.size(), Status::Ok());
  std::deque<size_t> in_flight;
  size_t in_flight_bytes = 0;
  auto finish_oldest = [&] {
    const size_t i = in_flight.front();
    in_flight.pop_front();
    Op& op = *ops_[i];
    in_flight_bytes -= op.fixed.size() + op.data.size();
    Status s = op.seg->conn_->Finish(&op.call, op.seg->conn_->DefaultDeadline());
    if (s.ok() && op.previous != nullptr) {
      Result<wire::U64Reply> reply = wire::U64Reply::Decode(op.call.body);
      if (reply.ok()) *op.previous = reply->value;
      else s = reply.status();
    }
    statuses_[i] = std::move(s);
  };
  // Groups of requests go out in one send each; the window is refilled once
  // half of it has completed.
  std::vector<remote_internal::Connection::Request> group;
  for (size_t i = 0; i < ops_.size();) {
    while (!in_flight.empty() &&
           (in_flight.size() > kWindowOps / 2 || in_flight_bytes > kWindowBytes / 2)) {
      finish_oldest();
    }
    remote_internal::Connection* conn = ops_[i]->seg->conn_.get();
    group.clear();
    const size_t group_start = i;
    while (i < ops_.size() && ops_[i]->seg->conn_.get() == conn &&
           in_flight.size() + group.size() < kWindowOps) {
      Op& op = *ops_[i];
      const size_t bytes = op.fixed.size() + op.data.size();
      if (!group.empty() && in_flight_bytes + bytes > kWindowBytes) break;
      group.push_back({&op.call, op.fixed, op.data});
      in_flight_bytes += bytes;
      ++i;
    }
    Status s = conn->StartMany(group);
    for (size_t k = group_start; k < i; ++k) {
      if (s.ok()) {
        in_flight.push_back(k);
      } else {
        statuses_[k] = s;
        in_flight_bytes -= ops_[k]->fixed.size() + ops_[k]->data.size();
      }
    }
  }
  while (!in_flight.empty()) finish_oldest();
  ops_.clear();
  for (const Status& s : statuses_) {
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace rams
