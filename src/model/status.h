// status.h — the status document as a typed model: what `ttmemd` answers to {"cmd": "status"}
// and what `ttmem status --source shm` makes from tt-metal's own statistics (docs/protocol.md §3
// is the contract). It is written as JSON and read from JSON here and nowhere else
// (status_json.cc); the daemon builds it, the CLI reads it (status table, CSV fields, top) and
// the metrics are made from it.
#ifndef TTMEM_MODEL_STATUS_H_
#define TTMEM_MODEL_STATUS_H_

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocol/mem_types.h"

namespace ttmem::model {

// One memory type's figures. Null (nullopt) where the source does not count them: tt-metal's
// statistics have no buffer counts and no SYSTEM_MEMORY or KERNEL figures.
struct Figures {
  std::optional<uint64_t> used_bytes = 0;
  std::optional<uint64_t> buffers = 0;
  // Devices only: null until a process announced a non-zero capacity for the type.
  std::optional<uint64_t> total_bytes;
};
// By ttmem_mem_type (proto::kMemTypeKeys); every type is always listed.
using Memory = std::array<Figures, proto::kNumMemTypes>;

// Sum of used bytes over the types (unknown figures count 0).
// One type's figures.
inline const Figures& Of(const Memory& m, proto::MemType t) {
  return m[static_cast<size_t>(t)];
}
uint64_t UsedTotal(const Memory& m);
// Sum of buffers over the types.
uint64_t BuffersTotal(const Memory& m);

// Serialisation hint, never written: the parts of a process whose revision is non-zero and
// unchanged since the last document a JsonMemo saw are copied from it instead of written again.
using Revision = std::array<uint64_t, 2>;

// A process's share of one device (devices[].processes[]).
struct DeviceProcess {
  pid_t pid = 0;
  std::string name;
  // "tt-metal-shm" when the figures come from tt-metal's statistics; then `stale` and
  // `unverified` are written too.
  std::optional<std::string> source;
  bool stale = false;
  bool unverified = false;
  Memory memory{};
  Revision revision{};
};

struct Device {
  uint32_t id = 0;
  std::optional<std::string> arch;
  std::optional<uint64_t> unique_id;
  std::optional<uint64_t> num_cores;
  // Where the chip sits, when announced (since 0.4): the PCIe device it is reached through
  // (/dev/tenstorrent/N, what TT_METAL_VISIBLE_DEVICES names), that device's chip, its board.
  std::optional<uint32_t> pcie_id;
  std::optional<uint32_t> mmio_device;
  std::optional<uint64_t> board_id;
  std::optional<std::string> board_type;
  std::optional<std::string> source;       // "tt-metal-shm": a chip only tt-metal's figures know
  std::optional<uint32_t> layout_version;  // --source shm: the region's layout
  std::optional<std::string> region;       // --source shm: the region's file
  Memory memory{};                         // total_bytes written (null when unknown)
  std::optional<Memory> capture_estimate;  // hooked allocations (no device memory)
  std::vector<DeviceProcess> processes;    // processes holding memory on it
  std::optional<std::vector<pid_t>> open_without_report;  // --source shm: the driver's list
  // Every process the driver lists as holding the chip's PCIe device open, reporting or not
  // (ttmemd with --driver-dir, for a chip announced with its place; issue 28).
  std::optional<std::vector<pid_t>> open_by;
};

struct ProcessCounters {
  uint64_t unknown_frees = 0;
  uint64_t duplicate_allocs = 0;
  // Events off the fast path: overflowed into the resync log (delivered, totals exact) plus
  // refused for bad arguments (lost for good). The region's overflowed + lost_bad_args.
  uint64_t dropped_events = 0;
};

struct Process {
  pid_t pid = 0;
  std::string name;
  std::string cmdline;
  std::optional<uint32_t> uid;
  std::string user;
  std::optional<std::string> tag;  // from the client: untrusted text
  uint64_t started_unix_ms = 0;
  // In a pid namespace of its own: its pid there (absent when the same as `pid`); in a
  // container: its id, and the runtime and Kubernetes pod where known (issue 18).
  std::optional<pid_t> ns_pid;
  std::optional<std::string> container;
  std::optional<std::string> container_runtime;
  std::optional<std::string> pod;
  // A container id the process's cgroup names but the kernel's facts do not back (issue 26):
  // shown apart, never as `container` (base::ContainerClaimed).
  std::optional<std::string> container_claimed;
  std::optional<std::string> source;  // "tt-metal-shm": then stale/unverified and reasons too
  std::vector<uint32_t> devices;
  bool stale = false;
  bool unverified = false;
  std::optional<std::string> stale_reason;
  std::optional<std::string> unverified_reason;
  Memory memory{};  // over all its devices
  Memory capture_estimate{};
  ProcessCounters counters;
  Revision revision{};
};

struct DriverOpen {  // a device held open (driver's list) by processes that report nothing
  uint32_t driver_device = 0;
  std::vector<pid_t> pids;
};

struct CoverageAnomaly {
  pid_t pid = 0;
  uint32_t device = 0;
  int type = 0;  // ttmem_mem_type
  uint64_t native_bytes = 0;
  uint64_t tt_metal_bytes = 0;
  uint64_t since_unix_ms = 0;
};

struct Counters {
  uint64_t unknown_frees = 0;
  uint64_t duplicate_allocs = 0;
  uint64_t dropped_events = 0;
  uint64_t live_buffers = 0;
  uint64_t events_applied = 0;
  uint64_t clients_disconnected_for_errors = 0;
  uint64_t device_info_conflicts = 0;
  uint64_t failed_queries = 0;
  uint64_t coverage_anomalies = 0;
};

struct DaemonInfo {
  pid_t pid = 0;
  std::string socket;
  uint64_t uptime_ms = 0;
  uint32_t protocol_version = 0;
};

struct Status {
  uint32_t version = 1;
  std::optional<std::string> source;   // "tt-metal-shm": read from tt-metal's statistics
  std::optional<std::string> shm_dir;  // where (with source)
  std::optional<DaemonInfo> daemon;    // the daemon's documents
  std::vector<Device> devices;
  std::vector<Process> processes;
  std::optional<std::vector<DriverOpen>> open_without_report;
  std::optional<std::vector<CoverageAnomaly>> coverage_anomalies;
  std::optional<Counters> counters;
  std::optional<std::vector<std::string>> problems;  // --source shm: regions not used, and why

  const Device* FindDevice(uint32_t id) const;
  const Process* FindProcess(pid_t pid) const;
};

// Keeps only the devices in `ids` (empty: all); processes keep their full figures.
void KeepDevices(Status* s, const std::vector<uint32_t>& ids);

}  // namespace ttmem::model

#endif  // TTMEM_MODEL_STATUS_H_
