// SPDX-License-Identifier: MIT
// The remote sync objects of the C interface (rams.h) over RemoteMutex,
// RemoteCondVar and RemoteBarrier.
#include <cerrno>

#include "c_api_internal.h"
#include "rams/rams.h"
#include "rams/remote.h"

namespace {

using rams::internal::AsRemote;
using rams::internal::CApiFail;
using rams::internal::FromAcquired;
using rams::internal::FromStatus;

// Runs `fn` on the proxy of type T at `offset` of the remote segment `seg`.
template <class T, class Fn>
int OnRemote(rams_segment* seg, uint64_t offset, const char* what, Fn fn) {
  auto remote = AsRemote(seg, what);
  if (!remote.ok()) return CApiFail(remote.status());
  T object(**remote, offset);
  return fn(object);
}

}  // namespace

extern "C" {

int rams_remote_mutex_lock(rams_segment* seg, uint64_t offset, int64_t timeout_ns) {
  return OnRemote<rams::RemoteMutex>(seg, offset, "rams_remote_mutex_lock", [&](auto& mu) {
    return FromAcquired(mu.Lock(rams::internal::ToTimeout(timeout_ns)));
  });
}

int rams_remote_mutex_trylock(rams_segment* seg, uint64_t offset) {
  return OnRemote<rams::RemoteMutex>(seg, offset, "rams_remote_mutex_trylock",
                                     [](auto& mu) { return FromAcquired(mu.TryLock()); });
}

int rams_remote_mutex_unlock(rams_segment* seg, uint64_t offset) {
  return OnRemote<rams::RemoteMutex>(seg, offset, "rams_remote_mutex_unlock",
                                     [](auto& mu) { return FromStatus(mu.Unlock()); });
}

int rams_remote_mutex_consistent(rams_segment* seg, uint64_t offset) {
  return OnRemote<rams::RemoteMutex>(seg, offset, "rams_remote_mutex_consistent",
                                     [](auto& mu) { return FromStatus(mu.MarkConsistent()); });
}

int rams_remote_cond_wait(rams_segment* seg, uint64_t cond_offset, uint64_t mutex_offset,
                          int64_t timeout_ns) {
  return OnRemote<rams::RemoteCondVar>(seg, cond_offset, "rams_remote_cond_wait", [&](auto& cv) {
    rams::RemoteMutex mu(cv.segment(), mutex_offset);
    auto r = cv.Wait(mu, rams::internal::ToTimeout(timeout_ns));
    if (!r.ok()) return CApiFail(r.status());
    return static_cast<int>(r->lock) | (r->timed_out ? RAMS_TIMED_OUT : 0);
  });
}

int rams_remote_cond_signal(rams_segment* seg, uint64_t offset) {
  return OnRemote<rams::RemoteCondVar>(seg, offset, "rams_remote_cond_signal",
                                       [](auto& cv) { return FromStatus(cv.Signal()); });
}

int rams_remote_cond_broadcast(rams_segment* seg, uint64_t offset) {
  return OnRemote<rams::RemoteCondVar>(seg, offset, "rams_remote_cond_broadcast",
                                       [](auto& cv) { return FromStatus(cv.Broadcast()); });
}

int rams_remote_barrier_join(rams_segment* seg, uint64_t offset) {
  return OnRemote<rams::RemoteBarrier>(seg, offset, "rams_remote_barrier_join",
                                       [](auto& b) { return FromStatus(b.Join()); });
}

int rams_remote_barrier_wait(rams_segment* seg, uint64_t offset, int64_t timeout_ns) {
  return OnRemote<rams::RemoteBarrier>(seg, offset, "rams_remote_barrier_wait", [&](auto& b) {
    auto last = b.Wait(rams::internal::ToTimeout(timeout_ns));
    if (!last.ok()) return CApiFail(last.status());
    return *last ? 1 : 0;
  });
}

int rams_remote_barrier_leave(rams_segment* seg, uint64_t offset) {
  return OnRemote<rams::RemoteBarrier>(seg, offset, "rams_remote_barrier_leave",
                                       [](auto& b) { return FromStatus(b.Leave()); });
}

}  // extern "C"
