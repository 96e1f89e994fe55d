#include "sim/arch.h"

namespace ttsim {
namespace {

// Wormhole B0 (one n150 chip / one chip of an n300): 12 DRAM banks x 1 GiB (6 channels x 2 GiB),
// 8x8 compute grid, 1,499,136 B (1464 KiB) of L1 per Tensix core.
ArchSpec Wormhole() {
  ArchSpec a;
  a.name = "wormhole_b0";
  a.dram_banks = 12;
  a.dram_bank_size = 1ull << 30;
  a.trace_region_size = 16ull << 20;
  a.dram_alignment = 32;
  a.grid_x = 8;
  a.grid_y = 8;
  a.l1_size = 1499136;
  a.l1_unreserved_base = 101376;  // model: firmware + dispatch + kernel config (99 KiB)
  a.kernel_config_size = 69632;   // model: 68 KiB of the reserved part
  a.l1_small_size = 32768;        // models set L1_SMALL to 24-32 KiB
  a.l1_alignment = 16;
  return a;
}

// Blackhole p150: 8 DRAM banks x 4,278,190,080 B, 130 compute cores (13 x 10), 1.5 MiB L1 each.
ArchSpec Blackhole() {
  ArchSpec a;
  a.name = "blackhole";
  a.dram_banks = 8;
  a.dram_bank_size = 4278190080ull;
  a.trace_region_size = 16ull << 20;
  a.dram_alignment = 64;
  a.grid_x = 13;
  a.grid_y = 10;
  a.l1_size = 1572864;
  a.l1_unreserved_base = 101376;
  a.kernel_config_size = 69632;
  a.l1_small_size = 32768;
  a.l1_alignment = 16;
  return a;
}

const std::vector<ArchSpec>& Presets() {
  static const std::vector<ArchSpec> presets = {Wormhole(), Blackhole()};
  return presets;
}

}  // namespace

const ArchSpec* FindArch(std::string_view name) {
  for (const ArchSpec& a : Presets())
    if (a.name == name) return &a;
  return nullptr;
}

std::vector<std::string> ArchNames() {
  std::vector<std::string> names;
  for (const ArchSpec& a : Presets()) names.push_back(a.name);
  return names;
}

}  // namespace ttsim
