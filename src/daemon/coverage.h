// coverage.h — the coverage check: where the daemon has both libttmem's view of a process on a
// device and tt-metal's own statistics for the same pid and chip, the two must agree for DRAM,
// L1, L1_SMALL and TRACE. A difference that lasts (beyond kSettleNs, more than kToleranceBytes,
// and without moving by more than that meanwhile) is an anomaly: the one sign that tracking
// misses a path of that process (a thread without the processor, an allocation path not
// covered). CB is not compared: tt-metal's figure sums the CBs of every registered program, ttmem
// shows the resident program's. Pure logic; the daemon feeds it once a second (docs/tt-metal.md).
#ifndef TTMEM_DAEMON_COVERAGE_H_
#define TTMEM_DAEMON_COVERAGE_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <tuple>
#include <vector>

namespace ttmem::daemon {

struct CoverageSample {
  pid_t pid = 0;
  uint32_t device = 0;
  int type = 0;  // ttmem's type number: DRAM 0, L1 1, L1_SMALL 3, TRACE 4
  uint64_t native_bytes = 0;
  uint64_t tt_metal_bytes = 0;
};

struct CoverageAnomaly {
  CoverageSample figures;      // as last compared
  uint64_t since_unix_ms = 0;  // when this difference was first seen
};

class CoverageCheck {
 public:
  static constexpr uint64_t kSettleNs = 3'000'000'000ull;
  static constexpr uint64_t kToleranceBytes = 64 * 1024;

  // One round: every pair both views have now (pairs not in `samples` are forgotten).
  void Update(const std::vector<CoverageSample>& samples, uint64_t now_ns, uint64_t now_unix_ms);
  // The lasting differences, by pid, device and type.
  const std::vector<CoverageAnomaly>& anomalies() const { return anomalies_; }

 private:
  struct Seen {
    int64_t first_diff = 0;
    uint64_t since_ns = 0;
    uint64_t since_unix_ms = 0;
  };
  std::map<std::tuple<pid_t, uint32_t, int>, Seen> seen_;
  std::vector<CoverageAnomaly> anomalies_;
};

}  // namespace ttmem::daemon

#endif  // TTMEM_DAEMON_COVERAGE_H_
