/* SPDX-License-Identifier: MIT */
// Clang's thread-safety annotations (-Wthread-safety), after leveldb's
// port/thread_annotations.h: GUARDED_BY on a member names the mutex that
// guards it, REQUIRES/EXCLUDES on a function the mutexes its caller must or
// must not hold, ACQUIRE/RELEASE on the functions that take and drop one. The
// clang builds check them at compile time; other compilers ignore them. A
// macro already defined (by leveldb, say) is left as it is.
//
// Thread safety: compile-time only; nothing happens at run time.
#pragma once

#if defined(__clang__)
#define RAMS_THREAD_ANNOTATION_(x) __attribute__((x))
#else
#define RAMS_THREAD_ANNOTATION_(x)
#endif

#ifndef CAPABILITY
#define CAPABILITY(x) RAMS_THREAD_ANNOTATION_(capability(x))
#endif
#ifndef SCOPED_CAPABILITY
#define SCOPED_CAPABILITY RAMS_THREAD_ANNOTATION_(scoped_lockable)
#endif
#ifndef GUARDED_BY
#define GUARDED_BY(x) RAMS_THREAD_ANNOTATION_(guarded_by(x))
#endif
#ifndef PT_GUARDED_BY
#define PT_GUARDED_BY(x) RAMS_THREAD_ANNOTATION_(pt_guarded_by(x))
#endif
#ifndef ACQUIRED_AFTER
#define ACQUIRED_AFTER(...) RAMS_THREAD_ANNOTATION_(acquired_after(__VA_ARGS__))
#endif
#ifndef ACQUIRED_BEFORE
#define ACQUIRED_BEFORE(...) RAMS_THREAD_ANNOTATION_(acquired_before(__VA_ARGS__))
#endif
#ifndef REQUIRES
#define REQUIRES(...) RAMS_THREAD_ANNOTATION_(requires_capability(__VA_ARGS__))
#endif
#ifndef EXCLUDES
#define EXCLUDES(...) RAMS_THREAD_ANNOTATION_(locks_excluded(__VA_ARGS__))
#endif
#ifndef ACQUIRE
#define ACQUIRE(...) RAMS_THREAD_ANNOTATION_(acquire_capability(__VA_ARGS__))
#endif
#ifndef RELEASE
#define RELEASE(...) RAMS_THREAD_ANNOTATION_(release_capability(__VA_ARGS__))
#endif
#ifndef TRY_ACQUIRE
#define TRY_ACQUIRE(...) RAMS_THREAD_ANNOTATION_(try_acquire_capability(__VA_ARGS__))
#endif
#ifndef ASSERT_CAPABILITY
#define ASSERT_CAPABILITY(x) RAMS_THREAD_ANNOTATION_(assert_capability(x))
#endif
#ifndef RETURN_CAPABILITY
#define RETURN_CAPABILITY(x) RAMS_THREAD_ANNOTATION_(lock_returned(x))
#endif
#ifndef NO_THREAD_SAFETY_ANALYSIS
#define NO_THREAD_SAFETY_ANALYSIS RAMS_THREAD_ANNOTATION_(no_thread_safety_analysis)
#endif
