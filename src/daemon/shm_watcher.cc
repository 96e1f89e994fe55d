#include "daemon/shm_watcher.h"

#include <optional>

#include <fmt/format.h>

#include "base/clock.h"
#include "daemon/status_builder.h"

namespace ttmem::daemon {

void ShmWatcher::Scan(const ledger::Ledger& ledger, bool force) {
  if (dir_.empty() && driver_dir_.empty()) return;
  const uint64_t now = base::MonotonicNs();
  if (!force && scanned_ns_ != 0 && now < scanned_ns_ + 1000000000ull) return;
  scanned_ns_ = now;
  std::vector<std::string> problems;  // unusable regions are simply not shown
  if (!dir_.empty()) regions_ = ttshm::Discover(dir_, &problems);
  driver_pids_ = ttshm::ReadDriverPidLists(driver_dir_);
  std::string digest;
  for (const auto& [device, pids] : driver_pids_) {
    digest += fmt::format("driver {}:", device);
    for (pid_t pid : pids) digest += fmt::format("{},", pid);
  }
  for (ttshm::Region& r : regions_) {
    ttshm::CheckLiveness(&r);
    digest += fmt::format("{}:{}:{}:{}:{}:{}:{};", r.path, r.asic_id, r.device_id, r.totals[0],
                          r.totals[1], r.totals[2], r.processes.size());
    for (const ttshm::Process& p : r.processes)
      digest += fmt::format("{}/{}/{}/{}/{},", p.pid, p.alive, p.used[0], p.used[1], p.used[4]);
  }
  CheckCoverage(ledger);
  if (!coverage_.anomalies().empty())  // their figures and durations change with each scan
    digest += fmt::format("coverage:{};", coverage_.anomalies().size());
  if (digest != digest_) {
    digest_ = std::move(digest);
    ++version_;
  }
}

void ShmWatcher::CheckCoverage(const ledger::Ledger& ledger) {
  // DRAM, L1, L1_SMALL and TRACE: the first four of tt-metal's figures (CB is counted
  // differently: coverage.h).
  std::vector<CoverageSample> samples;
  for (const ttshm::Region& r : regions_) {
    const std::optional<uint32_t> device = NativeDeviceOfChip(ledger, r.chip_id);
    if (!device) continue;
    for (const ttshm::Process& p : r.processes) {
      auto native = ledger.processes().find(p.pid);
      // Only a slot the live process itself maps: anyone can write a region naming any pid.
      if (!p.alive || !p.verified || native == ledger.processes().end()) continue;
      auto usage = native->second.usage.find(*device);
      for (int t = 0; t < 4; ++t)
        samples.push_back(
            {p.pid, *device, proto::kShmFigureTypes[static_cast<size_t>(t)],
             usage != native->second.usage.end()
                 ? usage
                       ->second[static_cast<size_t>(proto::kShmFigureTypes[static_cast<size_t>(t)])]
                       .bytes
                 : 0,
             p.used[static_cast<size_t>(t)]});
    }
  }
  coverage_.Update(samples, base::MonotonicNs(), base::UnixMs());
}

}  // namespace ttmem::daemon
