// Declarations only (see ../README.md): tt_metal/api/tt-metalium/graph_tracking.hpp @ 020591a6.
#pragma once
#include <memory>

namespace tt::tt_metal {
class IGraphHooks {
public:
    virtual ~IGraphHooks() = default;
};
class GraphTracker {
public:
    static GraphTracker& instance();
    const std::shared_ptr<IGraphHooks>& get_hook() const;
};
}  // namespace tt::tt_metal
