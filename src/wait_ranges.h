/* SPDX-License-Identifier: MIT */
// Inside librams: wait ranges that a forked child does not inherit.
#pragma once

#include <cstdint>

#include "rams/backend.h"
#include "rams/status.h"

namespace rams::internal {

// As RegisterWaitRange, for a mapping that a fork() child does not inherit
// (MADV_DONTFORK) with an attachment that only works in this process (the
// remote backend's connection, whose socket the child shares with the
// parent and whose threads it lacks): the child's copy of the table drops
// the range (pthread_atfork), so WaitWord/WakeWord there never reach the
// parent's attachment, and a mapping the child makes at the same address
// registers cleanly. A child made without atfork handlers (_Fork, a raw
// clone) keeps the range and must not use its words.
Status RegisterWaitRangeNotInherited(const void* base, uint64_t len, Attachment* attachment);

}  // namespace rams::internal
