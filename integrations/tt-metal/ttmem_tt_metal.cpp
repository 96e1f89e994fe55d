// ttmem_tt_metal.cpp — ttmem's adapter inside tt-metal: the ONE file that knows tt-metal's types.
// Everything else (the rules of what to count, ids for CBs and kernels, capture estimates) is
// integrations/ttmem_tracking.{h,cc}, the same code the simulator runs in ttmem's tests; a
// tt-metal API change touches only this file. Build and insertion points: docs/tt-metal.md.
//
// Checked against tenstorrent/tt-metal public headers (docs/tt-metal.md names the commits):
//   tt_metal/impl/memory_tracking/buffer_allocation_observer.hpp (4b23a16a):
//     class BufferAllocationObserver { track_allocate(const Buffer*); track_deallocate(Buffer*); }
//     register_buffer_allocation_observer_once(const std::type_info&, factory)
//   tt_metal/api/tt-metalium/buffer.hpp (00ef79b5): Buffer::device(), size(), address(),
//     buffer_type(), unique_id()
//   tt_metal/api/tt-metalium/graph_tracking.hpp (020591a6): GraphTracker::instance().get_hook()
//     (per thread: non-null while this thread captures with a hook, e.g. NO_DISPATCH)
// This file is compiled inside a tt-metal build (it is not part of ttmem's own build, which has no
// tt-metal to compile against).
#include <memory>
#include <typeinfo>

#include <tt-metalium/buffer.hpp>
#include <tt-metalium/device.hpp>
#include <tt-metalium/graph_tracking.hpp>

#include "impl/memory_tracking/buffer_allocation_observer.hpp"
#include "ttmem_tracking.h"
#include "ttmem/ttmem.h"

namespace ttmem::integration::tt_metal {
namespace tm = ::tt::tt_metal;

namespace {

BufferEvent EventOf(const tm::Buffer* b) {
  BufferEvent e;
  e.device = static_cast<uint32_t>(b->device()->id());
  e.type = static_cast<BufferType>(static_cast<int>(b->buffer_type()));  // same numbering
  e.buffer_id = static_cast<uint64_t>(b->unique_id());
  e.address = b->address();
  e.size = b->size();
  // A hook on this thread (graph capture) intercepted the allocation: no device memory.
  e.hooked = tm::GraphTracker::instance().get_hook() != nullptr;
  // NOT YET VERIFIED on hardware or in a tt-metal build: whether a MeshBuffer's per-device
  // buffers reach the observer. tt-metal notifies it from Buffer::allocate_impl(); buffers made
  // with Buffer::create(device, address, ...) (pre-allocated) may not run it — they are reported
  // through OnPreallocatedBuffer below from that path instead (docs/tt-metal.md).
  return e;
}

class TtmemBufferObserver final : public tm::BufferAllocationObserver {
 public:
  void track_allocate(const tm::Buffer* buffer) override { BufferAllocated(EventOf(buffer)); }
  void track_deallocate(tm::Buffer* buffer) override { BufferDeallocated(EventOf(buffer)); }
};

}  // namespace

// Call once per device during device initialisation (tt-metal registers its own SHM observer at
// the same point): registers the observer once per process and announces the device.
void RegisterDevice(tm::IDevice* device) {
  if (!ttmem_enabled()) return;
  tm::register_buffer_allocation_observer_once(typeid(TtmemBufferObserver), [] {
    return std::make_shared<TtmemBufferObserver>();
  });
  ttmem_device_info info = TTMEM_DEVICE_INFO_INIT;
  info.device = static_cast<uint32_t>(device->id());
  // Capacities, arch and the chip's unique id: filled where docs/tt-metal.md says, from the
  // device's allocator statistics (allocatable bytes per bank × banks) — see "Announcing".
  ttmem_device_announce(&info);
}

// The pre-allocated path: Buffer::create(device, address, ...) (e.g. a MeshBuffer's per-device
// buffer) owns no allocation and never reaches the observer; report it from there.
void OnPreallocatedBuffer(const tm::Buffer* buffer, bool created) {
  BufferEvent e = EventOf(buffer);
  e.preallocated = true;
  created ? BufferAllocated(e) : BufferDeallocated(e);
}

}  // namespace ttmem::integration::tt_metal
