/* SPDX-License-Identifier: MIT */
// The metrics every Prometheus exporter carries besides its own: ramsd's build
// (ramsd_build_info) and the process's CPU time, memory, descriptors and start
// time under the standard process_* names. A value that cannot be read (no
// /proc, say) is left out of the page rather than reported as 0.
//
// Thread safety: stateless but for the start time, fixed before main().
#pragma once

#include <string>

namespace ramsd {

std::string RenderProcessMetrics();

}  // namespace ramsd
