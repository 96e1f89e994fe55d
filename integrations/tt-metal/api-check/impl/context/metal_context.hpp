// Declarations only (see ../../README.md): impl/context/metal_context.hpp, llrt's Cluster.
#pragma once
#include <cstdint>
#include <unordered_map>

#include <tt-metalium/device.hpp>

namespace tt {
class Cluster {
public:
    const std::unordered_map<tt::tt_metal::ChipId, std::uint64_t>& get_unique_chip_ids() const;
};
}  // namespace tt
namespace tt::tt_metal {
class MetalContext {
public:
    static MetalContext& instance();
    tt::Cluster& get_cluster();
};
}  // namespace tt::tt_metal
