#include "ledger/ledger.h"

#include <cstdint>
#include <string>

namespace ttmem::ledger {

Process& Ledger::ProcessFor(pid_t pid) {
  auto [it, inserted] = processes_.try_emplace(pid);
  if (inserted) it->second.pid = pid;
  it->second.version = ++version_;  // every caller is about to change it
  return it->second;
}

void Ledger::AddProcess(pid_t pid) {
  ProcessFor(pid);
}

void Ledger::Account(Process& p, uint32_t device, const LiveBuffer& b, bool add) {
  Account(p, device, devices_[device], b, add);
}

void Ledger::Account(Process& p, uint32_t device, Device& d, const LiveBuffer& b, bool add) {
  Usage& pu = b.hooked ? p.captured[device][b.type] : p.usage[device][b.type];
  Usage& du = b.hooked ? d.captured[b.type] : d.usage[b.type];
  const uint64_t size = b.size;
  d.version = ++version_;
  if (add) {
    pu.bytes += size;
    pu.buffers += 1;
    du.bytes += size;
    du.buffers += 1;
    ++live_buffers_;
  } else {
    pu.bytes -= size;
    pu.buffers -= 1;
    du.bytes -= size;
    du.buffers -= 1;
    --live_buffers_;
  }
}

Result Ledger::Alloc(pid_t pid, uint32_t device, uint8_t type, uint64_t buffer_id, uint64_t address,
                     uint64_t size, Capture capture, Replay replay, uint32_t state_slot,
                     uint16_t op) {
  const bool hooked = capture == Capture::kEstimate;
  const bool count_anomalies = replay == Replay::kNo;
  if (type >= proto::kNumMemTypes || device > UINT16_MAX || state_slot > kMaxStateSlot ||
      size > kMaxSize)
    return Result::kInvalid;
  // Totals never wrap: an allocation the device's total cannot hold is refused, changing nothing
  // (the device total bounds every process total below it).
  auto dev = devices_.find(device);
  if (dev != devices_.end()) {
    const uint64_t total =
        hooked ? dev->second.captured[type].bytes : dev->second.usage[type].bytes;
    if (size > UINT64_MAX - total) return Result::kInvalid;
  } else {
    dev = devices_.try_emplace(device).first;
  }
  Device& d = dev->second;
  Process& p = ProcessFor(pid);
  if (p.live.size() >= kMaxLivePerProcess) return Result::kInvalid;  // LiveTable's positions
  LiveEntry e;
  e.id = buffer_id;
  e.device = static_cast<uint16_t>(device);
  auto [it, inserted] = p.live.insert(e);
  Result r = Result::kOk;
  if (!inserted) {
    const LiveEntry& old = *it;
    if (!count_anomalies && old.type == type && old.address == address && old.size == size &&
        (old.hooked != 0) == hooked) {
      it->op = op;  // a replayed allocation already applied (its op may come only now)
      return Result::kOk;
    }
    Account(p, device, d, old.buffer(), /*add=*/false);
    if (count_anomalies) ++p.counters.duplicate_allocs;
    r = Result::kDuplicateAlloc;
  }
  it->address = address;
  it->size = size & ((uint64_t{1} << 41) - 1);  // <= kMaxSize, checked above
  it->state_slot = state_slot & kMaxStateSlot;  // checked above
  it->type = type & 0x1fu;                      // < proto::kNumMemTypes, checked above
  it->hooked = hooked ? 1 : 0;
  it->op = op;
  // A buffer first seen in a tolerant replay was made while the daemon was away: age unknown.
  it->born_s = inserted && replay == Replay::kTolerant ? 0u : (now_s_ & kMaxBornSeconds);
  Account(p, device, d, it->buffer(), /*add=*/true);
  return r;
}

bool Ledger::Find(pid_t pid, uint32_t device, uint64_t buffer_id, LiveBuffer* out) const {
  auto p = processes_.find(pid);
  if (p == processes_.end() || device > UINT16_MAX) return false;
  LiveEntry probe;
  probe.id = buffer_id;
  probe.device = static_cast<uint16_t>(device);
  auto it = p->second.live.find(probe);
  if (it == p->second.live.end()) return false;
  if (out != nullptr) *out = it->buffer();
  return true;
}

Result Ledger::Free(pid_t pid, uint32_t device, uint64_t buffer_id, Replay replay,
                    LiveBuffer* freed) {
  const bool count_anomalies = replay == Replay::kNo;
  Process& p = ProcessFor(pid);
  LiveEntry probe;
  probe.id = buffer_id;
  probe.device = static_cast<uint16_t>(device);
  auto it = device > UINT16_MAX ? p.live.end() : p.live.find(probe);
  if (it == p.live.end()) {
    if (count_anomalies) ++p.counters.unknown_frees;
    return Result::kUnknownFree;
  }
  const LiveBuffer b = it->buffer();
  Account(p, device, b, /*add=*/false);
  if (freed != nullptr) *freed = b;
  p.live.erase(it);
  return Result::kOk;
}

Counters Ledger::counters() const {
  Counters c = retired_;
  for (const auto& [pid, p] : processes_) {
    c.unknown_frees += p.counters.unknown_frees;
    c.duplicate_allocs += p.counters.duplicate_allocs;
    c.dropped_events += p.counters.dropped_events;
  }
  return c;
}

uint64_t Ledger::RemoveProcess(pid_t pid, Retire retire) {
  auto it = processes_.find(pid);
  if (it == processes_.end()) return 0;
  ++version_;
  if (retire == Retire::kYes) {
    retired_.unknown_frees += it->second.counters.unknown_frees;
    retired_.duplicate_allocs += it->second.counters.duplicate_allocs;
    retired_.dropped_events += it->second.counters.dropped_events;
  }
  // Takes a process's per-device usage out of the device totals; returns the bytes.
  auto subtract = [&](const DeviceUsage& by_device, TypeUsage Device::*totals) {
    uint64_t bytes = 0;
    for (const auto& [device, usage] : by_device) {
      devices_[device].version = version_;
      TypeUsage& d = devices_[device].*totals;
      for (int t = 0; t < proto::kNumMemTypes; ++t) {
        d[t].bytes -= usage[t].bytes;
        d[t].buffers -= usage[t].buffers;
        live_buffers_ -= usage[t].buffers;
        bytes += usage[t].bytes;
      }
    }
    return bytes;
  };
  uint64_t reclaimed = subtract(it->second.usage, &Device::usage);
  subtract(it->second.captured, &Device::captured);  // an estimate: no device memory to reclaim
  processes_.erase(it);
  return reclaimed;
}

void Ledger::RestoreCounters(pid_t pid, uint64_t unknown_frees, uint64_t duplicate_allocs) {
  Process& p = ProcessFor(pid);
  p.counters.unknown_frees += unknown_frees;
  p.counters.duplicate_allocs += duplicate_allocs;
}

void Ledger::SetDropped(pid_t pid, uint64_t dropped) {
  Process& p = ProcessFor(pid);
  if (dropped > p.counters.dropped_events) p.counters.dropped_events = dropped;
}

void Ledger::SetDeviceInfo(uint32_t device, DeviceInfo info) {
  Device& d = devices_[device];
  d.version = ++version_;
  d.info = std::move(info);
}

std::string Ledger::CheckInvariantsForTesting() const {
  // Index 0: device memory, 1: capture estimate.
  std::map<uint32_t, TypeUsage> from_live[2];
  std::map<uint32_t, TypeUsage> from_processes[2];
  uint64_t live = 0;
  for (const auto& [pid, p] : processes_) {
    std::unordered_map<uint32_t, TypeUsage> mine[2];
    for (const LiveEntry& buf : p.live) {
      int k = buf.hooked != 0 ? 1 : 0;
      for (auto* m : {&from_live[k][buf.device], &mine[k][buf.device]}) {
        (*m)[buf.type].bytes += buf.size;
        (*m)[buf.type].buffers += 1;
      }
      ++live;
    }
    for (int k = 0; k < 2; ++k) {
      for (const auto& [device, usage] : k == 0 ? p.usage : p.captured) {
        TypeUsage expect = mine[k].count(device) ? mine[k].at(device) : TypeUsage{};
        if (usage != expect)
          return "process " + std::to_string(pid) + (k ? " capture" : " usage") + " on device " +
                 std::to_string(device) + " differs from its live buffers";
        for (int t = 0; t < proto::kNumMemTypes; ++t) {
          from_processes[k][device][t].bytes += usage[t].bytes;
          from_processes[k][device][t].buffers += usage[t].buffers;
        }
      }
    }
  }
  if (live != live_buffers_) return "live buffer count differs from the live tables";
  for (const auto& [device, d] : devices_) {
    for (int k = 0; k < 2; ++k) {
      const TypeUsage& have = k == 0 ? d.usage : d.captured;
      TypeUsage a = from_live[k].count(device) ? from_live[k].at(device) : TypeUsage{};
      TypeUsage b = from_processes[k].count(device) ? from_processes[k].at(device) : TypeUsage{};
      if (have != a) return "device " + std::to_string(device) + " totals differ from live";
      if (have != b) return "device " + std::to_string(device) + " totals differ from processes";
    }
  }
  return "";
}

}  // namespace ttmem::ledger
