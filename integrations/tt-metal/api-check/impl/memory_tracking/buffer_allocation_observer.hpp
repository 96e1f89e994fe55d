// Declarations only (see ../../README.md):
// tt_metal/impl/memory_tracking/buffer_allocation_observer.hpp @ 4b23a16a.
#pragma once
#include <functional>
#include <memory>
#include <typeinfo>

namespace tt::tt_metal {
class Buffer;
class BufferAllocationObserver {
public:
    virtual ~BufferAllocationObserver() = default;
    virtual void track_allocate(const Buffer* buffer) = 0;
    virtual void track_deallocate(Buffer* buffer) = 0;
};
bool register_buffer_allocation_observer_once(
    const std::type_info& type, const std::function<std::shared_ptr<BufferAllocationObserver>()>& factory);
}  // namespace tt::tt_metal
