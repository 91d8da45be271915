// SPDX-License-Identifier: MIT
// The synchronization part of the C interface (rams.h) over the C++ objects.
#include <cerrno>
#include <new>
#include <string>

#include "c_api_internal.h"
#include "rams/barrier.h"
#include "rams/condvar.h"
#include "rams/mutex.h"
#include "rams/rams.h"
#include "rams/rwlock.h"
#include "rams/semaphore.h"
#include "sync/check.h"
#include "sync/owner.h"

namespace {

using rams::internal::FromAcquired;
using rams::internal::FromStatus;

template <class C, class Cpp>
constexpr bool kSameStorage = sizeof(C) == sizeof(Cpp) && alignof(C) >= alignof(Cpp);
static_assert(kSameStorage<rams_mutex, rams::Mutex>);
static_assert(kSameStorage<rams_cond, rams::CondVar>);
static_assert(kSameStorage<rams_rwlock, rams::RwLock>);
static_assert(kSameStorage<rams_sem, rams::Semaphore>);
static_assert(kSameStorage<rams_barrier, rams::Barrier>);

template <class Cpp, class C>
Cpp* As(C* c) {
  RAMS_SYNC_CHECK(c != nullptr, "null sync object");
  return std::launder(reinterpret_cast<Cpp*>(c));
}

// -errno when the caller's domain cannot be determined now, so that an
// object is never initialized with a partial identity.
int DomainKnown(const char* what) {
  if (rams::internal::SelfDomain() != 0) return 0;
  return rams::internal::CApiFail(rams::Error(errno != 0 ? errno : EAGAIN,
                                              std::string(what) + ": cannot determine the PID namespace now"));
}

}  // namespace

extern "C" {

int rams_mutex_init(rams_mutex* m) {
  if (int err = DomainKnown("rams_mutex_init")) return err;
  new (As<rams::Mutex>(m)) rams::Mutex();
  return 0;
}
int rams_mutex_lock(rams_mutex* m, int64_t timeout_ns) {
  return FromAcquired(As<rams::Mutex>(m)->Lock(rams::internal::ToTimeout(timeout_ns)));
}
int rams_mutex_trylock(rams_mutex* m) { return FromAcquired(As<rams::Mutex>(m)->TryLock()); }
int rams_mutex_unlock(rams_mutex* m) { return FromStatus(As<rams::Mutex>(m)->CheckedUnlock()); }
int rams_mutex_consistent(rams_mutex* m) {
  return FromStatus(As<rams::Mutex>(m)->CheckedMarkConsistent());
}

int rams_cond_init(rams_cond* c) {
  if (int err = DomainKnown("rams_cond_init")) return err;
  new (As<rams::CondVar>(c)) rams::CondVar();
  return 0;
}
int rams_cond_wait(rams_cond* c, rams_mutex* m, int64_t timeout_ns) {
  auto r = As<rams::CondVar>(c)->Wait(*As<rams::Mutex>(m), rams::internal::ToTimeout(timeout_ns));
  if (!r.ok()) return rams::internal::CApiFail(r.status());
  return static_cast<int>(r->lock) | (r->timed_out ? RAMS_TIMED_OUT : 0);
}
void rams_cond_signal(rams_cond* c) { As<rams::CondVar>(c)->Signal(); }
void rams_cond_broadcast(rams_cond* c) { As<rams::CondVar>(c)->Broadcast(); }

int rams_rwlock_init(rams_rwlock* rw) {
  if (int err = DomainKnown("rams_rwlock_init")) return err;
  new (As<rams::RwLock>(rw)) rams::RwLock();
  return 0;
}
int rams_rwlock_rdlock(rams_rwlock* rw, int64_t timeout_ns) {
  return FromAcquired(As<rams::RwLock>(rw)->LockShared(rams::internal::ToTimeout(timeout_ns)));
}
int rams_rwlock_wrlock(rams_rwlock* rw, int64_t timeout_ns) {
  return FromAcquired(As<rams::RwLock>(rw)->Lock(rams::internal::ToTimeout(timeout_ns)));
}
int rams_rwlock_rdunlock(rams_rwlock* rw) {
  return FromStatus(As<rams::RwLock>(rw)->CheckedUnlockShared());
}
int rams_rwlock_wrunlock(rams_rwlock* rw) { return FromStatus(As<rams::RwLock>(rw)->CheckedUnlock()); }

int rams_sem_init(rams_sem* s, uint32_t initial) {
  if (initial > rams::Semaphore::kMaxValue) {
    return rams::internal::CApiFail(rams::Error(EINVAL, "rams_sem_init: initial value too large"));
  }
  new (As<rams::Semaphore>(s)) rams::Semaphore(initial);
  return 0;
}
int rams_sem_wait(rams_sem* s, int64_t timeout_ns) {
  return FromStatus(As<rams::Semaphore>(s)->Wait(rams::internal::ToTimeout(timeout_ns)));
}
int rams_sem_post(rams_sem* s) {
  return FromStatus(As<rams::Semaphore>(s)->Post());
}
uint32_t rams_sem_value(const rams_sem* s) { return As<const rams::Semaphore>(s)->Value(); }

int rams_barrier_init(rams_barrier* b, uint32_t parties) {
  if (parties < 1 || parties > rams::Barrier::kMaxParties) {
    return rams::internal::CApiFail(rams::Error(EINVAL, "rams_barrier_init: parties not in 1..64"));
  }
  if (int err = DomainKnown("rams_barrier_init")) return err;
  new (As<rams::Barrier>(b)) rams::Barrier(parties);
  return 0;
}
int rams_barrier_join(rams_barrier* b) {
  return FromStatus(As<rams::Barrier>(b)->Join());
}
void rams_barrier_leave(rams_barrier* b) { As<rams::Barrier>(b)->Leave(); }
int rams_barrier_wait(rams_barrier* b, int64_t timeout_ns) {
  auto r = As<rams::Barrier>(b)->Wait(rams::internal::ToTimeout(timeout_ns));
  if (!r.ok()) return rams::internal::CApiFail(r.status());
  return *r ? 1 : 0;
}
void rams_barrier_reset(rams_barrier* b) { As<rams::Barrier>(b)->Reset(); }

}  // extern "C"
