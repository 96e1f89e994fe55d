#include "model/status.h"

#include <algorithm>

namespace ttmem::model {

uint64_t UsedTotal(const Memory& m) {
  uint64_t sum = 0;
  for (const Figures& f : m) sum += f.used_bytes.value_or(0);
  return sum;
}

uint64_t BuffersTotal(const Memory& m) {
  uint64_t sum = 0;
  for (const Figures& f : m) sum += f.buffers.value_or(0);
  return sum;
}

const Device* Status::FindDevice(uint32_t id) const {
  for (const Device& d : devices)
    if (d.id == id) return &d;
  return nullptr;
}

const Process* Status::FindProcess(pid_t pid) const {
  for (const Process& p : processes)
    if (p.pid == pid) return &p;
  return nullptr;
}

void KeepDevices(Status* s, const std::vector<uint32_t>& ids) {
  if (ids.empty()) return;
  std::erase_if(s->devices, [&](const Device& d) {
    return std::find(ids.begin(), ids.end(), d.id) == ids.end();
  });
}

}  // namespace ttmem::model
