// from_tt_shm.h — tt-metal's own shared-memory statistics (ttshm::Region) as parts of the status
// model: the one mapping, used by the daemon (processes that do not report natively) and by
// `ttmem status --source shm` (no daemon).
#ifndef TTMEM_MODEL_FROM_TT_SHM_H_
#define TTMEM_MODEL_FROM_TT_SHM_H_

#include <sys/types.h>

#include <array>
#include <functional>
#include <vector>

#include "model/status.h"
#include "ttshm/tt_shm.h"

namespace ttmem::model {

inline constexpr const char* kShmSource = "tt-metal-shm";

// tt-metal's five figures as a Memory. What it does not count is null: SYSTEM_MEMORY and KERNEL
// bytes, and every buffer count.
Memory ShmMemory(const std::array<uint64_t, ttshm::kNumFigures>& used);
// Adds `b`'s known figures to `a` (a null figure of `a` stays null only if `b`'s is null too).
void AddMemory(Memory* a, const Memory& b);

// One slot of a region, as an entry under its device.
DeviceProcess ShmDeviceProcess(const ttshm::Process& p);
// A chip as tt-metal's statistics show it: its totals and every slot ("source": "tt-metal-shm";
// arch and core count unknown).
Device ShmDevice(const ttshm::Region& r);
// The processes the regions name, each merged over its slots (devices listed, figures summed;
// stale when any slot is, unverified when alive and any slot is), in pid order; those for which
// `skip` is true are left out.
std::vector<Process> ShmProcesses(const std::vector<ttshm::Region>& regions,
                                  const std::function<bool(pid_t)>& skip);

}  // namespace ttmem::model

#endif  // TTMEM_MODEL_FROM_TT_SHM_H_
