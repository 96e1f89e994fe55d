#include "daemon/coverage.h"

#include <cstdlib>

namespace ttmem::daemon {

void CoverageCheck::Update(const std::vector<CoverageSample>& samples, uint64_t now_ns,
                           uint64_t now_unix_ms) {
  constexpr int64_t kTol = static_cast<int64_t>(kToleranceBytes);
  std::map<std::tuple<pid_t, uint32_t, int>, Seen> next;
  anomalies_.clear();
  for (const CoverageSample& s : samples) {
    // Figures are below 2^62 (the ledger refuses wrapping totals): the difference fits.
    const int64_t diff =
        static_cast<int64_t>(s.native_bytes) - static_cast<int64_t>(s.tt_metal_bytes);
    if (std::llabs(diff) <= kTol) continue;  // agree (within the tolerance): forgotten
    const auto key = std::make_tuple(s.pid, s.device, s.type);
    Seen seen{diff, now_ns, now_unix_ms};
    if (auto it = seen_.find(key);
        it != seen_.end() && std::llabs(diff - it->second.first_diff) <= kTol)
      seen = it->second;  // the same difference as before: it lasts
    next[key] = seen;
    if (now_ns >= seen.since_ns + kSettleNs) anomalies_.push_back({s, seen.since_unix_ms});
  }
  seen_ = std::move(next);
}

}  // namespace ttmem::daemon
