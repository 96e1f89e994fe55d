// status_builder.h — the daemon's state as the status model (model/status.h), and its reply
// (model/status_json.h writes it). No I/O here: everything it shows is passed in.
#ifndef TTMEM_DAEMON_STATUS_BUILDER_H_
#define TTMEM_DAEMON_STATUS_BUILDER_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/container.h"
#include "daemon/coverage.h"
#include "daemon/process_meta.h"
#include "ledger/ledger.h"
#include "model/status.h"
#include "model/status_json.h"
#include "ttshm/tt_shm.h"

namespace ttmem::daemon {

using ttshm::DriverPidLists;

struct DaemonMeta {
  pid_t pid = 0;
  std::string socket;
  uint64_t uptime_ms = 0;
  uint64_t events_applied = 0;
  uint64_t clients_disconnected_for_errors = 0;
  uint64_t device_info_conflicts = 0;  // announcements refused: another uid's live one stands
  // Lasting differences between libttmem's and tt-metal's figures (daemon/coverage.h).
  std::vector<CoverageAnomaly> coverage_anomalies;
  uint64_t failed_queries = 0;  // queries answered with an error because their handler threw
};

// The native device whose announced chip unique id is `chip_id` (tt-metal's regions are named by
// it), if a process announced one.
std::optional<uint32_t> NativeDeviceOfChip(const ledger::Ledger& ledger, uint64_t chip_id);

// The status model (docs/protocol.md §3).
// `shm`: tt-metal's own statistics (regions read by the daemon; may be null). Processes in them
// that do not report natively are merged into the devices (matched by unique id) and processes,
// marked "source": "tt-metal-shm"; regions of chips no native process announced become devices.
// `driver` (read by the caller: ttshm::ReadDriverPidLists; may be null): "open_without_report"
// lists, per driver device, the pids that hold it open and neither report natively nor have a
// slot in `shm`. Each native process carries a Revision (its ledger and metadata versions).
model::Status BuildStatus(const ledger::Ledger& ledger, const std::map<pid_t, ProcessMeta>& meta,
                          const DaemonMeta& daemon, const std::vector<ttshm::Region>* shm = nullptr,
                          const DriverPidLists* driver = nullptr);

// The daemon's status replies: the model and the JSON memo, kept between replies. A process
// unchanged since the last reply costs a copy of its text: its device entries in the model are
// reused and left unfilled (at 32 devices × 256 processes, building 8,192 fresh entries that are
// never read cost 0.6 ms a reply; docs/benchmarks.md).
class StatusReplies {
 public:
  // Appends the status document to *out.
  void Write(const ledger::Ledger& ledger, const std::map<pid_t, ProcessMeta>& meta,
             const DaemonMeta& daemon, std::string* out,
             const std::vector<ttshm::Region>* shm = nullptr,
             const DriverPidLists* driver = nullptr);
  const model::JsonMemo& memo() const { return memo_; }

 private:
  model::JsonMemo memo_;
  model::Status scratch_;  // only ever read by the writer, with memo_
};

}  // namespace ttmem::daemon

#endif  // TTMEM_DAEMON_STATUS_BUILDER_H_
