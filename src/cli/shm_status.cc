// `ttmem status --source shm`: tt-metal's own shared-memory statistics, read without a daemon, as
// the status model (the mapping is model/from_tt_shm.h, the daemon's too), with what only this
// reader adds: the region's file and layout, the driver's list per device, and each live
// process's owner (docs/tt-metal.md).
#include <sys/stat.h>

#include <algorithm>

#include <fmt/format.h>

#include "base/user.h"
#include "cli/commands.h"
#include "model/from_tt_shm.h"
#include "ttshm/tt_shm.h"

namespace ttmem::cli {

model::Status ShmStatus(const std::string& dir, const std::string& proc_root,
                        std::vector<std::string>* problems) {
  std::vector<ttshm::Region> regions = ttshm::Discover(dir, problems);
  model::Status s;
  s.source = model::kShmSource;
  s.shm_dir = dir;
  for (ttshm::Region& r : regions) {
    ttshm::CheckLiveness(&r);
    model::Device d = model::ShmDevice(r);
    d.layout_version = r.version;
    d.region = r.path;
    // Processes that hold the device open (the driver's list) but have no slot here.
    d.open_without_report.emplace();
    for (pid_t pid : ttshm::DriverPids(proc_root + "/driver/tenstorrent", r.device_id))
      if (std::none_of(r.processes.begin(), r.processes.end(),
                       [&](const ttshm::Process& p) { return p.pid == pid; }))
        d.open_without_report->push_back(pid);
    s.devices.push_back(std::move(d));
  }
  s.processes = model::ShmProcesses(regions, nullptr);
  for (model::Process& p : s.processes) {
    struct stat st;
    if (!p.stale && ::stat(fmt::format("{}/{}", proc_root, p.pid).c_str(), &st) == 0) {
      p.uid = st.st_uid;
      p.user = base::UserName(st.st_uid);
    }
  }
  s.problems = *problems;
  return s;
}

}  // namespace ttmem::cli
