// Declarations only (see ../README.md): tt-metalium/allocator.hpp, allocator_types.hpp.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include <tt-metalium/buffer.hpp>

namespace tt::tt_metal {
enum class HalMemType : std::uint8_t { L1 = 0, DRAM = 1, HOST = 2 };
struct Statistics {
    std::size_t total_allocatable_size_bytes = 0;
    std::size_t total_allocated_bytes = 0;
    std::size_t total_free_bytes = 0;
    std::size_t largest_free_block_bytes = 0;
    std::vector<std::uint32_t> largest_free_block_addrs;
};
class Allocator {
public:
    std::uint32_t get_num_banks(const BufferType& buffer_type) const;
    DeviceAddr get_base_allocator_addr(const HalMemType& mem_type) const;
    Statistics get_statistics(const BufferType& buffer_type) const;
};
}  // namespace tt::tt_metal
