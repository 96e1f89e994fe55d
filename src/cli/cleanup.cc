// `ttmem cleanup --shm`: repairs tt-metal's shared-memory statistics left inflated by processes
// that died without releasing their slot (docs/tt-metal.md).
#include <cstdio>

#include <fmt/format.h>

#include "base/bytes.h"
#include "base/text.h"
#include "cli/commands.h"
#include "ttshm/tt_shm.h"

namespace ttmem::cli {

int RunCleanup(const CleanupOptions& o) {
  if (!o.shm) {
    PrintError("nothing to clean: name what, e.g. 'ttmem cleanup --shm' (tt-metal's statistics)");
    return kExitUsage;
  }
  if (!ShmDirUsable(o.shm_dir)) return kExitUsage;
  std::vector<std::string> problems;
  std::vector<ttshm::Region> regions = ttshm::Discover(o.shm_dir, &problems);
  for (const std::string& p : problems) PrintError("skipped " + p);
  int rc = regions.empty() && !problems.empty() ? kExitFailure : kExitOk;
  size_t freed = 0;
  for (const ttshm::Region& r : regions) {
    std::vector<ttshm::Reclaimed> done;
    std::string error;
    if (!ttshm::CleanupRegion(r.path, o.dry_run, &done, &error)) {
      PrintError(fmt::format("{}: {}", r.path, error));
      rc = kExitFailure;
      continue;
    }
    for (const auto& d : done) {
      std::string figures;
      for (int t = 0; t < ttshm::kNumFigures; ++t)
        if (d.used[t] != 0)
          figures += fmt::format(" {} {}", ttshm::FigureKey(t), base::FormatBytes(d.used[t]));
      std::printf("%s pid %d (%s) on device %u:%s\n", o.dry_run ? "would free" : "freed", d.pid,
                  base::TerminalSafe(d.name).c_str(), r.device_id,
                  figures.empty() ? " nothing held" : figures.c_str());
      ++freed;
    }
  }
  std::printf("%zu slot(s) of exited processes %s in %zu region(s) under %s\n", freed,
              o.dry_run ? "found" : "freed", regions.size(), base::TerminalSafe(o.shm_dir).c_str());
  return rc;
}

}  // namespace ttmem::cli
