// Declarations only (see ../README.md): tt_metal/api/tt-metalium/buffer.hpp @ 00ef79b5.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tt::tt_metal {
using DeviceAddr = std::uint64_t;
enum class BufferType { DRAM, L1, SYSTEM_MEMORY, L1_SMALL, TRACE };
class IDevice;
class Buffer {
public:
    IDevice* device() const;
    DeviceAddr size() const;
    DeviceAddr address() const;
    BufferType buffer_type() const;
    std::size_t unique_id() const;
};
}  // namespace tt::tt_metal
