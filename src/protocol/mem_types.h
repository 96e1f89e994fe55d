// mem_types.h — the memory types, in one place: their numbers (ttmem_mem_type in
// include/ttmem/ttmem.h), JSON keys, column headings, which are shown, and how tt-metal's own
// statistics map onto them.
#ifndef TTMEM_PROTOCOL_MEM_TYPES_H_
#define TTMEM_PROTOCOL_MEM_TYPES_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "ttmem/ttmem.h"

namespace ttmem::proto {

// The one enumeration of the memory types; its values are the C ABI's (static_asserts below).
enum class MemType : uint8_t { kDram, kL1, kSystemMemory, kL1Small, kTrace, kCb, kKernel };
// The one count of them: every per-type array in the code is this long.
inline constexpr int kNumMemTypes = TTMEM_MEM_TYPE_COUNT;
static_assert(static_cast<int>(MemType::kDram) == TTMEM_DRAM);
static_assert(static_cast<int>(MemType::kL1) == TTMEM_L1);
static_assert(static_cast<int>(MemType::kSystemMemory) == TTMEM_SYSTEM_MEMORY);
static_assert(static_cast<int>(MemType::kL1Small) == TTMEM_L1_SMALL);
static_assert(static_cast<int>(MemType::kTrace) == TTMEM_TRACE);
static_assert(static_cast<int>(MemType::kCb) == TTMEM_CB);
static_assert(static_cast<int>(MemType::kKernel) == TTMEM_KERNEL);
static_assert(static_cast<int>(MemType::kKernel) + 1 == kNumMemTypes);
inline constexpr int Index(MemType t) {
  return static_cast<int>(t);
}

// JSON keys, indexed by ttmem_mem_type.
inline constexpr std::array<std::string_view, kNumMemTypes> kMemTypeKeys = {
    "dram", "l1", "system_memory", "l1_small", "trace", "cb", "kernel"};
// Column headings.
inline constexpr std::array<std::string_view, kNumMemTypes> kMemTypeLabels = {
    "DRAM", "L1", "SYSMEM", "L1_SMALL", "TRACE", "CB", "KERNEL"};

// The types a table shows, in order (system memory is host memory: counted, not shown).
inline constexpr std::array<int, 6> kShownMemTypes = {
    Index(MemType::kDram),  Index(MemType::kL1), Index(MemType::kL1Small),
    Index(MemType::kTrace), Index(MemType::kCb), Index(MemType::kKernel)};
// tt-metal's shared-memory statistics carry five figures per chip and per process, in this
// order: DRAM, L1, L1_SMALL, TRACE, CB. Their ttmem types:
inline constexpr int kNumShmFigures = 5;
inline constexpr std::array<int, kNumShmFigures> kShmFigureTypes = {
    Index(MemType::kDram), Index(MemType::kL1), Index(MemType::kL1Small), Index(MemType::kTrace),
    Index(MemType::kCb)};

// A type's JSON key ("dram", "l1", ...): the one place a type number becomes a key.
inline constexpr std::string_view MemTypeKey(int type) {
  return type >= 0 && type < kNumMemTypes ? kMemTypeKeys[static_cast<size_t>(type)]
                                          : std::string_view("?");
}

inline std::optional<int> MemTypeFromKey(std::string_view key) {
  for (int i = 0; i < kNumMemTypes; ++i)
    if (kMemTypeKeys[i] == key) return i;
  return std::nullopt;
}

}  // namespace ttmem::proto

#endif  // TTMEM_PROTOCOL_MEM_TYPES_H_
