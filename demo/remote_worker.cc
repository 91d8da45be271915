// SPDX-License-Identifier: MIT
// A worker of the remote matrix multiplication (remote_worker.h).
#include "remote_worker.h"

#include <bit>
#include <chrono>
#include <span>
#include <vector>

#include "matmul.h"

namespace rams::demo {

Status RunRemoteWorker(const std::string& host, uint16_t port, const RemoteOptions& options,
                       const std::string& name, int n, int index, int count) {
  RAMS_ASSIGN_OR_RETURN(rams::RemoteSession session, rams::RemoteSession::Connect(host, port, options));
  RAMS_ASSIGN_OR_RETURN(std::unique_ptr<rams::RemoteAttachment> seg, session.Open(name));
  // Join before the work, so that a worker dying before it arrives breaks
  // the barrier for the others instead of leaving them waiting.
  rams::RemoteBarrier barrier(*seg, kBarrier);
  RAMS_RETURN_IF_ERROR(barrier.Join());
  const uint64_t m = MatrixBytes(n);
  std::vector<double> a(size_t(n) * n), b(size_t(n) * n), c(size_t(n) * n);
  RAMS_RETURN_IF_ERROR(seg->Read(kData, std::as_writable_bytes(std::span(a))));
  RAMS_RETURN_IF_ERROR(seg->Read(kData + m, std::as_writable_bytes(std::span(b))));
  const int begin = rams::matrix::BandBegin(n, index, count);
  const int end = rams::matrix::BandBegin(n, index + 1, count);
  rams::matrix::MultiplyRows(a.data(), b.data(), c.data(), n, begin, end);
  // The band, row by row in one pipelined batch.
  rams::RemoteBatch batch;
  for (int row = begin; row < end; ++row) {
    auto bytes = std::as_bytes(std::span(c).subspan(size_t(row) * n, n));
    batch.Write(*seg, kData + 2 * m + uint64_t(row) * n * sizeof(double), bytes);
  }
  RAMS_RETURN_IF_ERROR(batch.Run());
  RAMS_RETURN_IF_ERROR(barrier.Wait(std::chrono::seconds(60)).status());
  RAMS_RETURN_IF_ERROR(barrier.Leave());
  if (index != 0) return Status::Ok();
  RAMS_RETURN_IF_ERROR(seg->Read(kData + 2 * m, std::as_writable_bytes(std::span(c))));
  const uint64_t bits = std::bit_cast<uint64_t>(rams::matrix::Checksum(c.data(), n));
  return seg->CompareExchange(kChecksum, 0, bits).status();
}

}  // namespace rams::demo
