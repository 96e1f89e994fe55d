#include "ledger/ledger.h"

#include <string>

namespace ttmem::ledger {

Process& Ledger::ProcessFor(pid_t pid) {
  auto [it, inserted] = processes_.try_emplace(pid);
  if (inserted) it->second.pid = pid;
  return it->second;
}

void Ledger::AddProcess(pid_t pid) {
  ProcessFor(pid);
}

void Ledger::Account(Process& p, uint32_t device, uint8_t type, uint64_t size, bool add) {
  Usage& pu = p.usage[device][type];
  Usage& du = devices_[device].usage[type];
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
                     uint64_t size) {
  if (type >= kNumTypes) return Result::kInvalid;
  Process& p = ProcessFor(pid);
  auto [it, inserted] = p.live.try_emplace(Process::Key{device, buffer_id});
  Result r = Result::kOk;
  if (!inserted) {
    Account(p, device, it->second.type, it->second.size, /*add=*/false);
    ++p.counters.duplicate_allocs;
    ++counters_.duplicate_allocs;
    r = Result::kDuplicateAlloc;
  }
  it->second = LiveBuffer{type, address, size};
  Account(p, device, type, size, /*add=*/true);
  return r;
}

Result Ledger::Free(pid_t pid, uint32_t device, uint64_t buffer_id) {
  Process& p = ProcessFor(pid);
  auto it = p.live.find(Process::Key{device, buffer_id});
  if (it == p.live.end()) {
    ++p.counters.unknown_frees;
    ++counters_.unknown_frees;
    return Result::kUnknownFree;
  }
  Account(p, device, it->second.type, it->second.size, /*add=*/false);
  p.live.erase(it);
  return Result::kOk;
}

uint64_t Ledger::RemoveProcess(pid_t pid) {
  auto it = processes_.find(pid);
  if (it == processes_.end()) return 0;
  uint64_t reclaimed = 0;
  for (const auto& [device, usage] : it->second.usage) {
    Device& d = devices_[device];
    for (int t = 0; t < kNumTypes; ++t) {
      d.usage[t].bytes -= usage[t].bytes;
      d.usage[t].buffers -= usage[t].buffers;
      live_buffers_ -= usage[t].buffers;
      reclaimed += usage[t].bytes;
    }
  }
  processes_.erase(it);
  return reclaimed;
}

void Ledger::SetDropped(pid_t pid, uint64_t dropped) {
  Process& p = ProcessFor(pid);
  if (dropped <= p.counters.dropped_events) return;
  counters_.dropped_events += dropped - p.counters.dropped_events;
  p.counters.dropped_events = dropped;
}

void Ledger::SetDeviceInfo(uint32_t device, DeviceInfo info) {
  devices_[device].info = std::move(info);
}

std::string Ledger::CheckInvariantsForTesting() const {
  std::map<uint32_t, TypeUsage> from_live;
  std::map<uint32_t, TypeUsage> from_processes;
  uint64_t live = 0;
  for (const auto& [pid, p] : processes_) {
    std::unordered_map<uint32_t, TypeUsage> mine;
    for (const auto& [key, buf] : p.live) {
      for (auto* m : {&from_live[key.device], &mine[key.device]}) {
        (*m)[buf.type].bytes += buf.size;
        (*m)[buf.type].buffers += 1;
      }
      ++live;
    }
    for (const auto& [device, usage] : p.usage) {
      TypeUsage expect = mine.count(device) ? mine.at(device) : TypeUsage{};
      if (usage != expect)
        return "process " + std::to_string(pid) + " usage on device " + std::to_string(device) +
               " differs from its live buffers";
      for (int t = 0; t < kNumTypes; ++t) {
        from_processes[device][t].bytes += usage[t].bytes;
        from_processes[device][t].buffers += usage[t].buffers;
      }
    }
  }
  if (live != live_buffers_) return "live buffer count differs from the live tables";
  for (const auto& [device, d] : devices_) {
    TypeUsage a = from_live.count(device) ? from_live.at(device) : TypeUsage{};
    TypeUsage b = from_processes.count(device) ? from_processes.at(device) : TypeUsage{};
    if (d.usage != a) return "device " + std::to_string(device) + " usage differs from live";
    if (d.usage != b) return "device " + std::to_string(device) + " usage differs from processes";
  }
  return "";
}

}  // namespace ttmem::ledger
