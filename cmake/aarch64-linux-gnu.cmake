# SPDX-License-Identifier: MIT
# CMake toolchain file: cross-build rams for aarch64 Linux (Raspberry Pi 4,
# 64-bit Raspberry Pi OS / Debian arm64) with Debian's g++-aarch64-linux-gnu
# against the arm64 multiarch dev packages (scripts/install-deps arm64).
#
#   cmake -S . -B build-arm64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
#
# Tests run through qemu-user (CMAKE_CROSSCOMPILING_EMULATOR), which gtest
# discovery and ctest use; scripts/arm64-test registers binfmt_misc so that
# the test programs can also fork+exec other arm64 programs.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# Headers and libraries come from the multiarch paths under / (arch-all
# header-only packages live in /usr/include); programs run on the host.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_FIND_ROOT_PATH / /usr/lib/aarch64-linux-gnu /usr/lib/aarch64-linux-gnu/cmake)
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
find_program(RAMS_QEMU_AARCH64 NAMES qemu-aarch64-static qemu-aarch64 REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR ${RAMS_QEMU_AARCH64})
