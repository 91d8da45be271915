// fssd: serves one directory tree to FSS clients, checkpointing every change.
//   fssd --root DIR [--socket PATH] [--checkpoint-dir NAME] [--max-clients N]
//        [--max-open-files N] [--no-realtime] [--allow-other-users]
#include "cli.h"

int main(int argc, char** argv) { return rams::fss::RunServe(argc - 1, argv + 1); }
