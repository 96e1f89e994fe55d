// Declarations only (see ../../README.md): tt_metal/impl/buffers/circular_buffer.hpp @ 002dea7c,
// CoreRangeSet::num_cores() from tt-metalium/core_coord.hpp.
#pragma once
#include <cstdint>

namespace tt::tt_metal {
class CoreRangeSet {
public:
    std::uint32_t num_cores() const;
};
class CircularBufferImpl {
public:
    const CoreRangeSet& core_ranges() const;
    bool globally_allocated() const;
    std::uint32_t size() const;
    std::uint32_t address() const;
};
}  // namespace tt::tt_metal
