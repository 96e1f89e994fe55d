// snapshot.h — the forensic snapshot of one process (`ttmem snapshot`, `ttmem_snapshot()`, issue
// 17): every live buffer it holds with its op, its live memory by op, and the state of each
// device and type it uses (everyone's usage there and who holds it, capacity, largest free block
// and the free blocks by size), with a short text summary. docs/protocol.md, "snapshot".
#ifndef TTMEM_DAEMON_SNAPSHOT_H_
#define TTMEM_DAEMON_SNAPSHOT_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "daemon/fragmentation.h"
#include "daemon/status_builder.h"
#include "ledger/ledger.h"
#include "model/snapshot.h"

namespace ttmem::daemon {

// Buffers listed in one snapshot at most (the rest are counted: "truncated").
inline constexpr size_t kMaxSnapshotBuffers = 200000;
// The longest `reason` a request may carry (the error that made the process ask).
inline constexpr size_t kMaxSnapshotReason = 4096;
// Processes named per device and type in `holders`.
inline constexpr size_t kMaxSnapshotHolders = 8;
// The strip of a free-space map the snapshot computes itself (a cached one keeps its width).
inline constexpr uint32_t kSnapshotMapCells = 64;

struct SnapshotRequest {
  pid_t pid = 0;
  std::optional<uint32_t> device;
  std::string reason;  // already checked: at most kMaxSnapshotReason bytes of valid UTF-8
};

// What a snapshot is made of, copied out of the daemon's state on the loop thread
// (PrepareSnapshot: one walk over the process's buffers, no sort), then built into its reply on the
// query worker (BuildSnapshot), so that a process's 1 M buffers never stall the loop.
struct SnapshotInput {
  SnapshotRequest req;
  uint64_t now_unix_ms = 0;
  uint32_t now_s = 0;                      // the ledger's clock (ages)
  bool found = false;                      // the process reports to this daemon
  ProcessMeta meta;                        // its name and op names
  std::vector<ledger::LiveEntry> entries;  // its live buffers (on req.device, if given)
  // Each (device, type) it holds, as the device stood: everyone's usage, the largest holders.
  struct Type {
    uint32_t device = 0;
    int type = 0;
    uint64_t used_bytes = 0;
    uint64_t capacity_bytes = 0;  // 0: unknown
    std::vector<model::SnapshotHolder> holders;
    uint64_t holder_count = 0;
  };
  std::vector<Type> types;
  // Fragmentation of the devices it uses: fresh ones as the daemon had them; for the others the
  // spans of every other process, to which BuildSnapshot adds this process's and summarises
  // (the result, in `frag`, may be kept by the caller).
  std::map<uint32_t, std::vector<TypeFragmentation>> frag;
  std::map<uint32_t, DeviceSpans> spans;
};

// The devices whose fragmentation the snapshot of `req` needs (the caller decides which are
// fresh).
std::vector<uint32_t> SnapshotDevices(const ledger::Ledger& ledger, const SnapshotRequest& req);

// Loop side. `metas`: every reporting process's metadata (holders' names, the process's ops).
// `frag`: the fresh fragmentation the caller has; `spans`: GatherSpans of the other devices,
// skipping req.pid.
SnapshotInput PrepareSnapshot(const ledger::Ledger& ledger, const SnapshotRequest& req,
                              const std::map<pid_t, ProcessMeta>& metas,
                              std::map<uint32_t, std::vector<TypeFragmentation>> frag,
                              std::map<uint32_t, DeviceSpans> spans, uint64_t now_unix_ms);

// Worker side: the snapshot (fills in.frag), and the reply as JSON text ("text": its summary).
model::Snapshot MakeSnapshot(SnapshotInput& in);
std::string BuildSnapshot(SnapshotInput& in, bool text);

// The snapshot's short text (also its "summary" field): the reason, then per device and type
// what the process holds, of what, by op, who else holds memory there, and the largest free
// block. Text from clients is made terminal-safe.
std::string SnapshotSummary(const model::Snapshot& snapshot);

}  // namespace ttmem::daemon

#endif  // TTMEM_DAEMON_SNAPSHOT_H_
