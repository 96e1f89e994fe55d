// Declarations only (see ../README.md): tt-metalium/mesh_device.hpp.
#pragma once
#include <vector>

#include <tt-metalium/device.hpp>

namespace tt::tt_metal::distributed {
class MeshDevice : public IDevice {
public:
    std::vector<IDevice*> get_devices() const;
};
}  // namespace tt::tt_metal::distributed
