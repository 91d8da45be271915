// Where a command's segment lives: "NAME" is a local segment of the chosen
// backend. (Remote targets, "HOST:PORT/NAME", are resolved here too once the
// remote client exists.)
//
// Thread safety: the tool is single-threaded.
#pragma once

#include <string>

#include "rams/segment.h"

namespace rams::cli {

// The backend named by --backend ("" = the default choice).
Result<Backend*> ChooseBackend(const std::string& backend_name);

// Opens the segment a target names.
Result<Segment> OpenTarget(const std::string& target, const std::string& backend_name);

}  // namespace rams::cli
