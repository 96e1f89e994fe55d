// arch.h — device architecture presets, from public tt-metal facts (docs/sim.md cites them).
#ifndef TTMEM_SIM_ARCH_H_
#define TTMEM_SIM_ARCH_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ttsim {

struct ArchSpec {
  std::string name;
  // DRAM: banks (one per channel half on Wormhole) of equal size; one address valid in every bank.
  uint32_t dram_banks = 0;
  uint64_t dram_bank_size = 0;
  uint64_t trace_region_size = 0;  // top of each DRAM bank, for traces (model default)
  uint32_t dram_alignment = 32;
  // Worker (Tensix) grid used for compute; one L1 bank per worker core.
  uint32_t grid_x = 0;
  uint32_t grid_y = 0;
  uint64_t l1_size = 0;             // per core
  uint64_t l1_unreserved_base = 0;  // firmware, dispatch and kernel-config region below this
  uint64_t kernel_config_size = 0;  // kernel binaries region inside the reserved part
  uint64_t l1_small_size = 0;       // per core, carved from the bottom of the unreserved part
  uint32_t l1_alignment = 16;

  uint32_t num_cores() const { return grid_x * grid_y; }
  // The allocatable L1 of one bank for L1 buffers and circular buffers.
  uint64_t l1_bank_base() const { return l1_unreserved_base + l1_small_size; }
  uint64_t l1_bank_size() const { return l1_size - l1_bank_base(); }
};

// Known presets: "wormhole_b0", "blackhole". Returns null for an unknown name.
const ArchSpec* FindArch(std::string_view name);
std::vector<std::string> ArchNames();

}  // namespace ttsim

#endif  // TTMEM_SIM_ARCH_H_
