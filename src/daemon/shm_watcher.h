// shm_watcher.h — tt-metal's own shared-memory statistics as the daemon sees them: the regions
// in --shm-dir, re-read at most once a second (or on demand for a status answer), with the
// liveness of their processes, and the coverage check of those figures against the native ones
// (daemon/coverage.h). version() changes whenever what they say changes, so that subscribers get
// a new document.
#ifndef TTMEM_DAEMON_SHM_WATCHER_H_
#define TTMEM_DAEMON_SHM_WATCHER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "daemon/coverage.h"
#include "ledger/ledger.h"
#include "ttshm/tt_shm.h"

namespace ttmem::daemon {

class ShmWatcher {
 public:
  // `dir`: tt-metal's regions (empty: not read); `driver_dir`: the driver's /proc directory,
  // whose N/pids say who holds device N open (empty: not read).
  ShmWatcher(std::string dir, std::string driver_dir)
      : dir_(std::move(dir)), driver_dir_(std::move(driver_dir)) {}

  // Reads the regions and the driver's lists again unless that was done less than a second ago
  // (`force`: now), then compares the regions with `ledger`'s native figures.
  void Scan(const ledger::Ledger& ledger, bool force);

  const std::vector<ttshm::Region>& regions() const { return regions_; }
  const ttshm::DriverPidLists& driver_pids() const { return driver_pids_; }
  const std::vector<CoverageAnomaly>& anomalies() const { return coverage_.anomalies(); }
  uint64_t version() const { return version_; }

 private:
  void CheckCoverage(const ledger::Ledger& ledger);

  std::string dir_, driver_dir_;
  std::vector<ttshm::Region> regions_;  // as last read
  ttshm::DriverPidLists driver_pids_;   // as last read
  std::string digest_;                  // what they said, to notice a change
  uint64_t version_ = 0;
  uint64_t scanned_ns_ = 0;
  CoverageCheck coverage_;  // libttmem's figures against tt-metal's, per pid and device
};

}  // namespace ttmem::daemon

#endif  // TTMEM_DAEMON_SHM_WATCHER_H_
