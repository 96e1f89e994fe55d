// mem_types.h — names of the memory types, shared by daemon, CLI and tests.
#ifndef TTMEM_PROTOCOL_MEM_TYPES_H_
#define TTMEM_PROTOCOL_MEM_TYPES_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ttmem::proto {

inline constexpr int kNumMemTypes = 7;

// JSON keys, indexed by ttmem_mem_type.
inline constexpr std::array<std::string_view, kNumMemTypes> kMemTypeKeys = {
    "dram", "l1", "system_memory", "l1_small", "trace", "cb", "kernel"};
// Column headings.
inline constexpr std::array<std::string_view, kNumMemTypes> kMemTypeLabels = {
    "DRAM", "L1", "SYSMEM", "L1_SMALL", "TRACE", "CB", "KERNEL"};

inline std::optional<int> MemTypeFromKey(std::string_view key) {
  for (int i = 0; i < kNumMemTypes; ++i)
    if (kMemTypeKeys[i] == key) return i;
  return std::nullopt;
}

}  // namespace ttmem::proto

#endif  // TTMEM_PROTOCOL_MEM_TYPES_H_
