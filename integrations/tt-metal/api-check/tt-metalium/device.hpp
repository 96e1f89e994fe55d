// Declarations only (see ../README.md): tt-metalium/device.hpp (IDevice), umd's tt::ARCH.
#pragma once
#include <memory>

#include <tt-metalium/allocator.hpp>

namespace tt {
enum class ARCH { GRAYSKULL = 0, WORMHOLE_B0 = 1, BLACKHOLE = 2, QUASAR = 3, Invalid = 0xFF };
}
namespace tt::tt_metal {
using ChipId = int;
class IDevice {
public:
    virtual ~IDevice() = default;
    virtual tt::ARCH arch() const = 0;
    virtual ChipId id() const = 0;
    virtual const std::unique_ptr<Allocator>& allocator() const = 0;
};
}  // namespace tt::tt_metal
