// shm_publisher.h — the simulator as stock tt-metal: publishes per-chip, per-process totals in
// tt-metal's shared-memory layout (version 4), the way tt-metal's SharedMemoryStatsProvider
// does, so ttmem's reader of those regions can be shown and tested without hardware
// (`ttmem-sim --publish-shm DIR`, docs/tt-metal.md).
#ifndef TTMEM_SIM_SHM_PUBLISHER_H_
#define TTMEM_SIM_SHM_PUBLISHER_H_

#include <cstdint>
#include <string>

namespace ttsim {

// The chip id the simulator gives device `id` (announced to ttmem and used in region names).
uint64_t SimChipId(uint32_t device);

// Adds an allocation observer that keeps DIR/tt_device_<chip id>_memory up to date; the process's
// slots are released at exit (a killed process leaves them, as tt-metal's do).
void InstallShmPublisher(const std::string& dir);

}  // namespace ttsim

#endif  // TTMEM_SIM_SHM_PUBLISHER_H_
