// system.h — the machines the simulator can be (`ttmem sim … --system NAME`): how many chips,
// which PCIe device each is reached through and which board it sits on, as tt-metal's cluster
// descriptor says for the real ones (docs/sim.md). Without a system, chips announce no topology.
#ifndef TTMEM_SIM_SYSTEM_H_
#define TTMEM_SIM_SYSTEM_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ttsim {

struct ChipPlace {
  uint32_t pcie_id = 0;      // /dev/tenstorrent/N of the chip it is reached through
  uint32_t mmio_device = 0;  // that chip's logical id (itself for a chip with a PCIe device)
  uint64_t board_id = 0;
  std::string board_type;
};

struct SystemSpec {
  std::string name;
  std::string help;
  std::string arch;
  uint32_t rows = 1, cols = 1;   // the mesh the scenarios open (rows x cols chips)
  std::vector<ChipPlace> chips;  // by logical chip id
};

// "n150", "n300", "t3000" (any case; "t3k" too); null for another name.
const SystemSpec* FindSystem(std::string_view name);
std::vector<std::string> SystemNames();

// The system this process simulates (null: none); where chip `id` sits in it (null: unknown).
void UseSystem(const SystemSpec* s);
const ChipPlace* PlaceOf(uint32_t id);

}  // namespace ttsim

#endif  // TTMEM_SIM_SYSTEM_H_
