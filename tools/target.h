/* SPDX-License-Identifier: MIT */
// Where a command's segment lives: "NAME" is a local segment of the chosen
// backend, "HOST:PORT/NAME" a segment exported by the ramsd at HOST:PORT
// (with the pre-shared key from the file named by RAMS_KEY_FILE, if set).
//
// Thread safety: the tool is single-threaded.
#pragma once

#include <string>

#include "rams/remote.h"
#include "rams/segment.h"

namespace rams::cli {

// The backend named by --backend ("" = the default choice).
Result<Backend*> ChooseBackend(const std::string& backend_name);

// Connection options for remote targets: the key from RAMS_KEY_FILE (EINVAL
// when that file cannot be read) and the frame MAC policy from RAMS_FRAME_MAC
// (auto, require or refuse; EINVAL otherwise).
Result<RemoteOptions> RemoteOptionsFromEnvironment();

// Opens the segment a target names. A HOST:PORT/NAME with the kernel backend
// named explicitly (backend_name "kernel", or none and RAMS_BACKEND=kernel)
// is opened through /dev/rams (served by this host's ramsd), any other
// straight from the ramsd at HOST:PORT. `read_only` opens a remote export for
// reading only, so read-only exports can be read (local segments are always
// opened read-write).
Result<Segment> OpenTarget(const std::string& target, const std::string& backend_name,
                           bool read_only = false);

}  // namespace rams::cli
