// status_json.h — the `status` snapshot as JSON (the query protocol's reply; docs/protocol.md).
#ifndef TTMEM_DAEMON_STATUS_JSON_H_
#define TTMEM_DAEMON_STATUS_JSON_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/coverage.h"
#include "ledger/ledger.h"
#include "ttshm/tt_shm.h"

namespace ttmem::daemon {

using ttshm::DriverPidLists;

struct ProcessMeta {
  std::string name;     // /proc/PID/comm, read by the daemon
  std::string cmdline;  // /proc/PID/cmdline, spaces for NULs
  uid_t uid = 0;
  std::string user;
  std::string tag;  // set by the client (untrusted, shown as given)
  uint64_t started_unix_ms = 0;
  uint64_t version = 0;  // non-zero, and new on every change (status fragments are keyed by it)
};

struct DaemonMeta {
  pid_t pid = 0;
  std::string socket;
  uint64_t uptime_ms = 0;
  uint64_t events_applied = 0;
  uint64_t clients_disconnected_for_errors = 0;
  uint64_t device_info_conflicts = 0;  // announcements refused: another uid's live one stands
  // Lasting differences between libttmem's and tt-metal's figures (daemon/coverage.h).
  std::vector<CoverageAnomaly> coverage_anomalies;
};

// A process's serialised parts of the status document, valid while its ledger version and its
// metadata version are unchanged.
struct ProcessFragments {
  uint64_t ledger_version = 0;
  uint64_t meta_version = 0;
  std::vector<std::pair<uint32_t, std::string>> device_entries;  // by device, in device order
  std::string process;
};
using StatusCache = std::unordered_map<pid_t, ProcessFragments>;

// The native device whose announced chip unique id is `chip_id` (tt-metal's regions are named by
// it), if a process announced one.
std::optional<uint32_t> NativeDeviceOfChip(const ledger::Ledger& ledger, uint64_t chip_id);

// Appends the status document (docs/protocol.md §3), serialised, to *out. With a cache, only the
// processes that changed since the last call are serialised again.
// `shm`: tt-metal's own statistics (regions read by the daemon; may be null). Processes in them
// that do not report natively are merged into the devices (matched by unique id) and processes,
// marked "source": "tt-metal-shm"; regions of chips no native process announced become devices.
// `driver` (read by the caller: ttshm::ReadDriverPidLists; may be null): "open_without_report"
// lists, per driver device, the pids that hold it open and neither report natively nor have a
// slot in `shm`. No I/O here: everything it writes is passed in.
void BuildStatus(const ledger::Ledger& ledger, const std::map<pid_t, ProcessMeta>& meta,
                 const DaemonMeta& daemon, std::string* out, StatusCache* cache = nullptr,
                 const std::vector<ttshm::Region>* shm = nullptr,
                 const DriverPidLists* driver = nullptr);

}  // namespace ttmem::daemon

#endif  // TTMEM_DAEMON_STATUS_JSON_H_
