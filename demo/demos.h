// The two parts of `make demo`: the shared matrix multiplication and the
// seed's two-process lock sequence. Each prints its steps and returns 0 when
// the result is correct.
#pragma once

#include "rams/backend.h"

namespace rams::demo {

int RunMatmulDemo(Backend* backend, int n, int procs);
int RunSeedSequenceDemo(Backend* backend, int lease_writes);

}  // namespace rams::demo
