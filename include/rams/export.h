/* SPDX-License-Identifier: MIT */
/* rams/export.h: which declarations librams.so exports. librams is built
 * with -fvisibility=hidden and -fvisibility-inlines-hidden; the public
 * headers wrap their declarations in RAMS_API_BEGIN / RAMS_API_END, which
 * give them default visibility, and a single symbol can be marked with
 * RAMS_EXPORT (a private type a public header names, RAMS_HIDDEN). The linker version script (src/librams.map) is the second
 * fence: only rams::* and rams_* names are exported from the shared
 * library. Private headers (src/) are never wrapped, so their symbols stay
 * inside the library. C and C++.
 *
 * Thread safety: macros only. */
#ifndef RAMS_EXPORT_H_
#define RAMS_EXPORT_H_

#if defined(_WIN32)
/* The Windows client is a static library: nothing to export. */
#define RAMS_EXPORT
#define RAMS_HIDDEN
#define RAMS_API_BEGIN
#define RAMS_API_END
#elif defined(__GNUC__) || defined(__clang__)
#define RAMS_EXPORT __attribute__((visibility("default")))
#define RAMS_HIDDEN __attribute__((visibility("hidden")))
#define RAMS_API_BEGIN _Pragma("GCC visibility push(default)")
#define RAMS_API_END _Pragma("GCC visibility pop")
#else
#define RAMS_EXPORT
#define RAMS_HIDDEN
#define RAMS_API_BEGIN
#define RAMS_API_END
#endif

#endif /* RAMS_EXPORT_H_ */
