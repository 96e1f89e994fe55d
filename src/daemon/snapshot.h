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

#include <nlohmann/json.hpp>

#include "daemon/fragmentation.h"
#include "daemon/status_builder.h"
#include "ledger/ledger.h"

namespace ttmem::daemon {

// Buffers listed in one snapshot at most (the rest are counted: "truncated").
inline constexpr size_t kMaxSnapshotBuffers = 200000;
// The longest `reason` a request may carry (the error that made the process ask).
inline constexpr size_t kMaxSnapshotReason = 4096;
// Processes named per device and type in `holders`.
inline constexpr size_t kMaxSnapshotHolders = 8;

struct SnapshotRequest {
  pid_t pid = 0;
  std::optional<uint32_t> device;
  std::string reason;  // already checked: at most kMaxSnapshotReason bytes of valid UTF-8
};

// `metas`: every reporting process's metadata (names of the holders, the process's op names).
nlohmann::json BuildSnapshot(const ledger::Ledger& ledger, const SnapshotRequest& req,
                             const std::map<pid_t, ProcessMeta>& metas,
                             const std::map<uint32_t, std::vector<TypeFragmentation>>& frag,
                             uint64_t now_unix_ms);

// The snapshot's short text (also its "summary" field): the reason, then per device and type
// what the process holds, of what, by op, who else holds memory there, and the largest free
// block. Text from clients is made terminal-safe.
std::string SnapshotSummary(const nlohmann::json& snapshot);

}  // namespace ttmem::daemon

#endif  // TTMEM_DAEMON_SNAPSHOT_H_
