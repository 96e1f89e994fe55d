#include "sim/system.h"

namespace ttsim {
namespace {

// The T3000's places are those of tt-metal's own T3000 cluster descriptor
// (tests/tt_metal/tt_fabric/custom_mock_cluster_descriptors/t3k_cluster_desc.yaml, a8c5af0f5a):
// four n300 boards; chips 0-3 have the PCIe devices (chip 2 is /dev/tenstorrent/3 and chip 3 is
// /dev/tenstorrent/2), chips 4-7 are reached through chips 0-3, on the same boards.
std::vector<SystemSpec> MakeSystems() {
  std::vector<SystemSpec> out;
  out.push_back({"n150",
                 "one Wormhole chip with its own PCIe device",
                 "wormhole_b0",
                 1,
                 1,
                 {{0, 0, 0x100000000, "n150"}}});
  out.push_back({"n300",
                 "one board, two Wormhole chips behind one PCIe device",
                 "wormhole_b0",
                 1,
                 2,
                 {{0, 0, 0x200000000, "n300"}, {0, 0, 0x200000000, "n300"}}});
  const uint64_t boards[4] = {72058994491928619ull, 72058994491928729ull, 72058994491928743ull,
                              72058994491928746ull};
  const uint32_t pcie[4] = {0, 1, 3, 2};
  SystemSpec t3k{
      "t3000", "four n300 boards: 8 Wormhole chips behind 4 PCIe devices", "wormhole_b0", 2, 4, {}};
  for (uint32_t chip = 0; chip < 8; ++chip) {
    const uint32_t mmio = chip % 4;
    t3k.chips.push_back({pcie[mmio], mmio, boards[mmio], "n300"});
  }
  out.push_back(std::move(t3k));
  return out;
}

const std::vector<SystemSpec>& Systems() {
  static const std::vector<SystemSpec> s = MakeSystems();
  return s;
}

const SystemSpec* g_system = nullptr;  // set once by main, before any thread starts

}  // namespace

const SystemSpec* FindSystem(std::string_view name) {
  std::string n;
  for (char c : name) n += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  if (n == "t3k") n = "t3000";  // tt-metal's own name for it
  for (const SystemSpec& s : Systems())
    if (s.name == n) return &s;
  return nullptr;
}

std::vector<std::string> SystemNames() {
  std::vector<std::string> out;
  for (const SystemSpec& s : Systems()) out.push_back(s.name);
  return out;
}

void UseSystem(const SystemSpec* s) {
  g_system = s;
}

const ChipPlace* PlaceOf(uint32_t id) {
  if (g_system == nullptr || id >= g_system->chips.size()) return nullptr;
  return &g_system->chips[id];
}

}  // namespace ttsim
