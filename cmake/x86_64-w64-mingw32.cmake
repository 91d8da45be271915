# SPDX-License-Identifier: MIT
# CMake toolchain file: cross-build the remote-only client (RAMS_REMOTE_ONLY:
# the library, the `rams` CLI's remote commands, the remote demo's worker and
# the client tests) for Windows x86_64 with Debian's mingw-w64 (the -posix
# variant, whose libstdc++ has std::thread; scripts/install-deps windows).
#
#   cmake -S . -B build-windows -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/x86_64-w64-mingw32.cmake
#
# GoogleTest has no mingw build in Debian: tests/windows builds it from
# Debian's /usr/src/googletest with this toolchain. Programs are linked
# statically (no mingw DLLs to ship). Tests run under wine
# (CMAKE_CROSSCOMPILING_EMULATOR; scripts/windows-test).
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc-posix)
set(CMAKE_CXX_COMPILER x86_64-w64-mingw32-g++-posix)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)
set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32)
# Programs run on the host; libraries come from the mingw tree; header-only
# packages (Asio, CLI11, nlohmann-json) from /usr/include.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
# Windows 10 is the target (CNG, SIO_KEEPALIVE_VALS, WSA_FLAG_NO_HANDLE_INHERIT).
add_compile_definitions(_WIN32_WINNT=0x0A00 WIN32_LEAN_AND_MEAN NOMINMAX)
find_program(RAMS_WINE NAMES wine REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR ${RAMS_WINE})
