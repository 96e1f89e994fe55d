// snapshot.h — the forensic snapshot of one process (`ttmem snapshot`, issue 17): every live
// buffer it holds with its op, its live memory by op, and the state of each device and type it
// uses (everyone's usage there, capacity, largest free block). docs/protocol.md, "snapshot".
#ifndef TTMEM_DAEMON_SNAPSHOT_H_
#define TTMEM_DAEMON_SNAPSHOT_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/fragmentation.h"
#include "daemon/status_builder.h"
#include "ledger/ledger.h"

namespace ttmem::daemon {

// Buffers listed in one snapshot at most (the rest are counted: "truncated").
inline constexpr size_t kMaxSnapshotBuffers = 200000;

nlohmann::json BuildSnapshot(const ledger::Ledger& ledger, pid_t pid, const ProcessMeta& meta,
                             std::optional<uint32_t> device,
                             const std::map<uint32_t, std::vector<TypeFragmentation>>& frag,
                             uint64_t now_unix_ms);

}  // namespace ttmem::daemon

#endif  // TTMEM_DAEMON_SNAPSHOT_H_
