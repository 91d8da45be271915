// SPDX-License-Identifier: MIT
// The table of remote mappings' owner domains (owner_domain.h). Published as
// wait.cc's table: an entry's base is stored last (release) and cleared first.
#include "sync/owner_domain.h"

#include <atomic>
#include <cerrno>

#include "sync/check.h"
#include "sys/local_mutex.h"

namespace rams::internal {
namespace {

constexpr int kMaxDomains = 64;

struct Entry {
  std::atomic<uintptr_t> base{0};
  std::atomic<uint64_t> len{0};
  std::atomic<uint64_t> domain{0};
  std::atomic<uint32_t> host_index{0};
  std::atomic<HostLiveness*> liveness{nullptr};
};

Entry g_entries[kMaxDomains];
std::atomic<int> g_registered{0};
sys::LocalMutex g_mu;  // serializes writers

OwnerDomain Read(const Entry& e) {
  // Relaxed: ordered after the caller's acquire load of base.
  return OwnerDomain{.domain = e.domain.load(std::memory_order_relaxed),
                     .host_index = e.host_index.load(std::memory_order_relaxed),
                     .liveness = e.liveness.load(std::memory_order_relaxed)};
}

template <class Match>
std::optional<OwnerDomain> Find(Match match) {
  // Acquire: pairs with the release fetch_add/fetch_sub of the writers.
  if (g_registered.load(std::memory_order_acquire) == 0) return std::nullopt;
  for (const Entry& e : g_entries) {
    // Acquire: pairs with the release store of base in Register.
    const uintptr_t base = e.base.load(std::memory_order_acquire);
    if (base != 0 && match(e, base)) return Read(e);
  }
  return std::nullopt;
}

}  // namespace

Status RegisterOwnerDomain(const void* base, uint64_t len, const OwnerDomain& d) {
  RAMS_SYNC_CHECK(base != nullptr && d.liveness != nullptr && d.domain != 0 &&
                      d.domain != kNoProcDomain && d.host_index >= 1 &&
                      d.host_index <= kMaxHostIndex,
                  "RegisterOwnerDomain: bad arguments");
  sys::LocalMutexLock lock(g_mu);
  for (Entry& e : g_entries) {
    // Relaxed: writers are serialized by g_mu; published by the release below.
    if (e.base.load(std::memory_order_relaxed) != 0) continue;
    e.len.store(len, std::memory_order_relaxed);
    e.domain.store(d.domain, std::memory_order_relaxed);
    e.host_index.store(d.host_index, std::memory_order_relaxed);
    e.liveness.store(d.liveness, std::memory_order_relaxed);
    // Release: pairs with Find's acquire load of base.
    e.base.store(reinterpret_cast<uintptr_t>(base), std::memory_order_release);
    g_registered.fetch_add(1, std::memory_order_release);
    return Status();
  }
  return Error(ENOSPC, "register owner domain: all 64 slots in use");
}

void UnregisterOwnerDomain(const void* base) {
  sys::LocalMutexLock lock(g_mu);
  for (Entry& e : g_entries) {
    // Relaxed: writers are serialized by g_mu.
    if (e.base.load(std::memory_order_relaxed) == reinterpret_cast<uintptr_t>(base)) {
      // Release: pairs with Find's acquire loads.
      e.base.store(0, std::memory_order_release);
      g_registered.fetch_sub(1, std::memory_order_release);
      return;
    }
  }
}

std::optional<OwnerDomain> OwnerDomainAt(const void* addr) {
  const auto a = reinterpret_cast<uintptr_t>(addr);
  return Find([a](const Entry& e, uintptr_t base) {
    // Relaxed: ordered after Find's acquire load of base.
    return a >= base && a - base < e.len.load(std::memory_order_relaxed);
  });
}

std::optional<OwnerDomain> FindOwnerDomain(uint64_t domain) {
  if (domain == 0 || domain == kNoProcDomain) return std::nullopt;
  return Find([domain](const Entry& e, uintptr_t) {
    // Relaxed: ordered after Find's acquire load of base.
    return e.domain.load(std::memory_order_relaxed) == domain;
  });
}

Liveness CheckRemoteOwner(const OwnerDomain& d, uint32_t id) {
  RAMS_SYNC_CHECK(id != 0, "liveness of owner 0");
  const uint32_t tid = OwnerTid(id);
  const uint32_t index = OwnerHostIndex(id);
  // Tid 0 names no thread: whoever wrote it, nobody holds the object.
  if (tid == 0) return Liveness::kDead;
  // Our own host and PID namespace: the thread id alone (tag 0 is
  // "existence only" for CheckOwner).
  if (index == d.host_index) return CheckOwner(tid);
  const Liveness host = d.liveness->CheckHost(index);
  if (host != Liveness::kAlive) return host;
  return d.liveness->CheckThread(index, tid) == Liveness::kDead ? Liveness::kDead
                                                                 : Liveness::kAlive;
}

}  // namespace rams::internal
