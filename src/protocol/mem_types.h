// mem_types.h — the memory types, in one place: their numbers (ttmem_mem_type in
// include/ttmem/ttmem.h), JSON keys, column headings, which are shown, and how tt-metal's own
// statistics map onto them.
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

// The types a table shows, in order (system memory is host memory: counted, not shown).
inline constexpr std::array<int, 6> kShownMemTypes = {0, 1, 3, 4, 5, 6};
// tt-metal's shared-memory statistics carry five figures per chip and per process, in this
// order: DRAM, L1, L1_SMALL, TRACE, CB. Their ttmem types:
inline constexpr int kNumShmFigures = 5;
inline constexpr std::array<int, kNumShmFigures> kShmFigureTypes = {0, 1, 3, 4, 5};

inline std::optional<int> MemTypeFromKey(std::string_view key) {
  for (int i = 0; i < kNumMemTypes; ++i)
    if (kMemTypeKeys[i] == key) return i;
  return std::nullopt;
}

}  // namespace ttmem::proto

#endif  // TTMEM_PROTOCOL_MEM_TYPES_H_
