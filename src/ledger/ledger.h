// ledger.h — the accounts: who holds how much of which memory on which device. Pure: no I/O,
// no clock, no threads; the daemon feeds it events in each process's order.
//
//   Process pid ──┬── live: (device, buffer_id) -> {type, address, size}
//                 └── usage[device][type] = {bytes, buffers}   (sum over its live entries)
//   Device d ─────┬── usage[type] = sum over processes of their usage[d][type]
//                 └── info: arch, capacities (last announced)
//
// Invariants (checked by CheckInvariantsForTesting, which the unit tests and the fuzzer call):
//   device usage == sum of process usage == sum of live entries, per device and type, for
//   device memory and for the capture estimate alike; live_buffers() == the live tables' size.
// Hooked allocations (a graph-capture hook intercepted them: no device memory used) are kept in
// `captured`, a capture estimate, never in `usage`.
// Anomalies never throw and never corrupt totals: a free of an unknown id is counted and ignored;
// an allocation of an id already live is counted and replaces the old entry (the old one's free
// was evidently lost).
#ifndef TTMEM_LEDGER_LEDGER_H_
#define TTMEM_LEDGER_LEDGER_H_

#include <sys/types.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ledger/live_table.h"
#include "protocol/mem_types.h"

namespace ttmem::ledger {

struct Usage {
  uint64_t bytes = 0;
  uint64_t buffers = 0;
  bool operator==(const Usage&) const = default;
};
using TypeUsage = std::array<Usage, proto::kNumMemTypes>;

// Where a chip sits (tt-metal's cluster descriptor): the PCIe device it is reached through, that
// device's chip, and its board.
struct Topology {
  uint32_t pcie_id = 0;      // /dev/tenstorrent/N: what TT_METAL_VISIBLE_DEVICES names
  uint32_t mmio_device = 0;  // the logical id of the chip with that PCIe device
  uint64_t board_id = 0;     // 0: unknown
  std::string board_type;    // "n300", ...; "" unknown
  bool operator==(const Topology&) const = default;
};

struct DeviceInfo {
  std::string arch;
  uint64_t unique_id = 0;
  uint32_t num_cores = 0;
  std::array<uint64_t, proto::kNumMemTypes> capacity_bytes{};  // 0 = unknown
  std::array<uint32_t, proto::kNumMemTypes> bank_count{};  // 0 = unknown (no fragmentation view)
  std::array<uint64_t, proto::kNumMemTypes> bank_base{};
  bool unique_id_valid = false;      // unique_id names the chip (0 included); else it is unknown
  std::optional<Topology> topology;  // unknown unless announced (since 0.4)
};

// Bank geometry, the one rule the daemon's fragmentation view and the report's address maps
// share: memory of a type is `bank_count` banks of capacity / bank_count bytes each, every bank's
// range starting at `bank_base`; the allocator spreads a buffer's pages over the banks, so a
// buffer of `size` bytes at `address` covers [address, address + ceil(size / bank_count)) of
// each (up to a page more in a bank that gets an extra page: docs/monitor.md).
struct BankRange {
  uint64_t lo = 0, hi = 0;  // [lo, hi)
};
inline BankRange BankRangeOf(uint64_t capacity, uint64_t bank_count, uint64_t bank_base) {
  const uint64_t size = bank_count == 0 ? 0 : capacity / bank_count;
  return {bank_base, bank_base > UINT64_MAX - size ? UINT64_MAX : bank_base + size};
}
inline uint64_t PerBankBytes(uint64_t size, uint64_t bank_count) {
  return bank_count == 0 ? size : size / bank_count + (size % bank_count != 0);
}

struct Counters {
  uint64_t unknown_frees = 0;
  uint64_t duplicate_allocs = 0;
  // Off the fast path: overflowed into the resync log (totals exact) plus refused for bad
  // arguments (lost); as the client counted them (SetDropped).
  uint64_t dropped_events = 0;
  bool operator==(const Counters&) const = default;
};

enum class Result { kOk, kDuplicateAlloc, kUnknownFree, kInvalid };

// An allocation made under a graph-capture hook: an estimate, no device memory (kept apart).
enum class Capture : uint8_t { kNo, kEstimate };
// Replaying events whose effect may already be in the ledger (after a daemon restart): an
// allocation identical to the live one, and a free of a missing id, change nothing and are not
// counted as anomalies.
enum class Replay : uint8_t { kNo, kTolerant };
// A process removed for good keeps its anomaly counts in the totals; one that comes straight
// back (a reconnect restores them) does not.
enum class Retire : uint8_t { kYes, kNo };

struct LiveBuffer {
  uint64_t address = 0;
  uint64_t size = 0;
  uint32_t state_slot = 0;  // the caller's: the daemon's state-table slot of the entry
  uint8_t type = 0;
  bool hooked = false;
  uint16_t op = 0;  // the caller's: the allocating scope's id in its process (0: none)
};
static_assert(sizeof(LiveBuffer) == 24);

// Per-device figures of one process: a vector sorted by device id. A process uses a few devices
// (32 at most on today's hosts), so lookups are a short binary search, and a status snapshot
// walks each process's figures contiguously (hash nodes cost a cache miss each; benchmarks.md).
class DeviceUsage {
 public:
  using value_type = std::pair<uint32_t, TypeUsage>;
  using const_iterator = std::vector<value_type>::const_iterator;
  TypeUsage& operator[](uint32_t device) {
    auto it = LowerBound(device);
    if (it == v_.end() || it->first != device) it = v_.insert(it, {device, TypeUsage{}});
    return it->second;
  }
  const_iterator find(uint32_t device) const {
    auto it = std::lower_bound(v_.begin(), v_.end(), device,
                               [](const value_type& e, uint32_t d) { return e.first < d; });
    return it != v_.end() && it->first == device ? it : v_.end();
  }
  const TypeUsage& at(uint32_t device) const {
    auto it = find(device);
    if (it == v_.end()) throw std::out_of_range("DeviceUsage::at");
    return it->second;
  }
  const_iterator begin() const { return v_.begin(); }
  const_iterator end() const { return v_.end(); }
  size_t size() const { return v_.size(); }
  bool empty() const { return v_.empty(); }

 private:
  std::vector<value_type>::iterator LowerBound(uint32_t device) {
    return std::lower_bound(v_.begin(), v_.end(), device,
                            [](const value_type& e, uint32_t d) { return e.first < d; });
  }
  std::vector<value_type> v_;
};

// One live buffer as the ledger keeps it: 32 bytes, so a hash node is 40 and a malloc chunk 48
// (the daemon's memory per live buffer is a target: docs/benchmarks.md). Identity is
// (device, id); the rest may change in place. A size takes 41 bits (at most kMaxBufferBytes);
// the other 23 say when the buffer was allocated (Ledger::SetNowSeconds).
inline constexpr uint32_t kMaxStateSlot = (1u << 26) - 1;       // the daemon's table holds 64 Mi
inline constexpr uint64_t kMaxSize = uint64_t{1} << 40;         // == proto::kMaxBufferBytes
inline constexpr uint32_t kMaxBornSeconds = (1u << 23) - 1;     // 97 days
inline constexpr uint64_t kMaxLivePerProcess = UINT32_MAX - 1;  // a live table's positions
static_assert(kMaxSize < (uint64_t{1} << 41));
struct LiveEntry {
  uint64_t id = 0;
  mutable uint64_t address = 0;
  mutable uint64_t size : 41 = 0;
  // Ledger::now_seconds() when it was allocated (saturating at kMaxBornSeconds); 0: unknown (a
  // buffer restored after a daemon restart, or re-sent by a resync).
  mutable uint64_t born_s : 23 = 0;
  mutable uint32_t state_slot : 26 = 0;  // <= kMaxStateSlot
  mutable uint32_t type : 5 = 0;
  mutable uint32_t hooked : 1 = 0;
  uint16_t device = 0;  // < 65536 (the daemon accepts < 1024)
  mutable uint16_t op = 0;
  LiveBuffer buffer() const {
    return LiveBuffer{address, size, state_slot, static_cast<uint8_t>(type), hooked != 0, op};
  }
};
static_assert(sizeof(LiveEntry) == 32);

struct Process {
  pid_t pid = 0;
  uint64_t version = 0;  // new (ledger-wide counter) on every change to this process
  DeviceUsage usage;     // by device
  DeviceUsage captured;  // by device: hooked allocations
  Counters counters;
  LiveTable<LiveEntry> live;  // by (device, id)
};

struct Device {
  TypeUsage usage;
  TypeUsage captured;  // capture estimate: hooked allocations, no device memory
  std::optional<DeviceInfo> info;
  // The ledger's version at this device's last change (a buffer on it came, went or moved, a
  // process holding memory on it left, its facts were announced): what is derived from one
  // device's buffers (its fragmentation) stays valid while this does not move.
  uint64_t version = 0;
};

class Ledger {
 public:
  // kInvalid (nothing changed): a type, device or state slot out of range, a size over kMaxSize,
  // or one that would wrap the device's total for the type. `op`: the allocating scope (kept, never
  // interpreted).
  Result Alloc(pid_t pid, uint32_t device, uint8_t type, uint64_t buffer_id, uint64_t address,
               uint64_t size, Capture capture = Capture::kNo, Replay replay = Replay::kNo,
               uint32_t state_slot = 0, uint16_t op = 0);
  // *freed (if given) receives the entry that was freed.
  Result Free(pid_t pid, uint32_t device, uint64_t buffer_id, Replay replay = Replay::kNo,
              LiveBuffer* freed = nullptr);
  // The live entry into *out (if given); false when there is none.
  bool Find(pid_t pid, uint32_t device, uint64_t buffer_id, LiveBuffer* out = nullptr) const;
  // Adds anomaly counts carried over from an earlier daemon (restore).
  void RestoreCounters(pid_t pid, uint64_t unknown_frees, uint64_t duplicate_allocs);

  // The clock allocations are stamped with (LiveEntry::born_s): whole seconds, 1 or more; 0
  // stamps them as of unknown age. The daemon sets it as it drains.
  void SetNowSeconds(uint32_t s) { now_s_ = s < kMaxBornSeconds ? s : kMaxBornSeconds; }
  uint32_t now_seconds() const { return now_s_; }

  // Registers a process (so it is listed even before its first allocation).
  void AddProcess(pid_t pid);
  // Reclaims everything the process holds and forgets it. Returns the bytes reclaimed.
  uint64_t RemoveProcess(pid_t pid, Retire retire = Retire::kYes);
  // Sets the process's count of events lost before reaching the daemon (monotonic; a smaller
  // value than before is ignored).
  void SetDropped(pid_t pid, uint64_t dropped);

  void SetDeviceInfo(uint32_t device, DeviceInfo info);

  const std::map<uint32_t, Device>& devices() const { return devices_; }
  const std::map<pid_t, Process>& processes() const { return processes_; }
  // Anomalies since start, including those of processes already gone.
  Counters counters() const;
  uint64_t live_buffers() const { return live_buffers_; }
  // Changes whenever anything in the ledger changes (monitors' subscriptions compare it).
  uint64_t version() const { return version_; }

  // Returns an empty string when every invariant holds, else a description of the first breach.
  std::string CheckInvariantsForTesting() const;

 private:
  Process& ProcessFor(pid_t pid);
  void Account(Process& p, uint32_t device, const LiveBuffer& b, bool add);
  void Account(Process& p, uint32_t device, Device& d, const LiveBuffer& b, bool add);

  std::map<uint32_t, Device> devices_;
  std::map<pid_t, Process> processes_;
  uint64_t version_ = 0;  // the last Process::version handed out
  Counters retired_;      // counts of processes that are gone
  uint64_t live_buffers_ = 0;
  uint32_t now_s_ = 0;
};

}  // namespace ttmem::ledger

#endif  // TTMEM_LEDGER_LEDGER_H_
