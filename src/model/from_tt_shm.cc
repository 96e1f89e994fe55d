#include "model/from_tt_shm.h"

#include <map>

namespace ttmem::model {

Memory ShmMemory(const std::array<uint64_t, ttshm::kNumFigures>& used) {
  Memory m{};
  for (Figures& f : m) f = {std::nullopt, std::nullopt, std::nullopt};
  for (int t = 0; t < ttshm::kNumFigures; ++t)
    m[proto::kShmFigureTypes[static_cast<size_t>(t)]].used_bytes = used[t];
  return m;
}

void AddMemory(Memory* a, const Memory& b) {
  for (int t = 0; t < proto::kNumMemTypes; ++t) {
    Figures& x = (*a)[t];
    const Figures& y = b[t];
    if (y.used_bytes) x.used_bytes = x.used_bytes.value_or(0) + *y.used_bytes;
    if (y.buffers) x.buffers = x.buffers.value_or(0) + *y.buffers;
  }
}

DeviceProcess ShmDeviceProcess(const ttshm::Process& p) {
  DeviceProcess e;
  e.pid = p.pid;
  e.name = p.name;
  e.source = kShmSource;
  e.stale = !p.alive;
  e.unverified = p.alive && !p.verified;  // alive but not tied to the region: marked
  e.memory = ShmMemory(p.used);
  return e;
}

Device ShmDevice(const ttshm::Region& r) {
  Device d;
  d.id = r.device_id;
  d.unique_id = r.chip_id;
  d.source = kShmSource;
  d.memory = ShmMemory(r.totals);
  for (const ttshm::Process& p : r.processes) d.processes.push_back(ShmDeviceProcess(p));
  return d;
}

std::vector<Process> ShmProcesses(const std::vector<ttshm::Region>& regions,
                                  const std::function<bool(pid_t)>& skip) {
  std::map<pid_t, Process> by_pid;
  for (const ttshm::Region& r : regions)
    for (const ttshm::Process& slot : r.processes) {
      if (skip && skip(slot.pid)) continue;
      auto [it, first] = by_pid.try_emplace(slot.pid);
      Process& p = it->second;
      if (first) {  // what tt-metal's statistics do not say is empty or zero
        p.pid = slot.pid;
        p.name = slot.name;
        p.source = kShmSource;
        p.memory = ShmMemory({});
      }
      p.devices.push_back(r.device_id);
      AddMemory(&p.memory, ShmMemory(slot.used));
      if (!slot.alive && !p.stale) {
        p.stale = true;
        p.stale_reason = slot.stale_reason;
      }
      if (slot.alive && !slot.verified && !p.unverified_reason) {
        p.unverified = true;
        p.unverified_reason = slot.unverified_reason;
      }
    }
  std::vector<Process> out;
  out.reserve(by_pid.size());
  for (auto& [pid, p] : by_pid) {
    if (p.stale) {  // a dead process is not "unverified": it is gone
      p.unverified = false;
      p.unverified_reason.reset();
    }
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace ttmem::model
