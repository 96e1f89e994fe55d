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
//   tt_metal/impl/program/program_impl.hpp (00b0fa3f): ProgramImpl::get_id(), circular_buffers(),
//     allocate_circular_buffers(const IDevice*), deallocate_circular_buffers()
//   tt_metal/impl/buffers/circular_buffer.hpp (002dea7c): CircularBufferImpl::address(), size(),
//     core_ranges(), globally_allocated()
//   Allocator (tt-metalium/allocator.hpp): get_num_banks(BufferType), get_statistics(BufferType),
//     get_base_allocator_addr(HalMemType); Cluster::get_unique_chip_ids() via MetalContext
// This file is compiled inside a tt-metal build (it is not part of ttmem's own build, which has no
// tt-metal to compile against).
#include <cstdio>
#include <memory>
#include <typeinfo>

#include <tt-metalium/allocator.hpp>
#include <tt-metalium/buffer.hpp>
#include <tt-metalium/device.hpp>
#include <tt-metalium/graph_tracking.hpp>
#include <tt-metalium/mesh_device.hpp>

#include "impl/buffers/circular_buffer.hpp"
#include "impl/context/metal_context.hpp"
#include "impl/memory_tracking/buffer_allocation_observer.hpp"
#include "impl/program/program_impl.hpp"
#include "ttmem/ttmem.h"
#include "ttmem_tracking.h"

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

namespace {

const char* ArchName(tt::ARCH arch) {
  switch (arch) {
    case tt::ARCH::WORMHOLE_B0:
      return "wormhole_b0";
    case tt::ARCH::BLACKHOLE:
      return "blackhole";
    case tt::ARCH::QUASAR:
      return "quasar";
    default:
      return "unknown";
  }
}

// A MeshDevice stands for every device of its mesh (tt-metal lays a mesh program's CBs out once,
// on the MeshDevice, at the same addresses on each device); any other device is itself.
template <typename F>
void ForEachDevice(const tm::IDevice* device, F&& f) {
  if (const auto* mesh = dynamic_cast<const tm::distributed::MeshDevice*>(device)) {
    for (const tm::IDevice* d : mesh->get_devices()) f(d);
  } else {
    f(device);
  }
}

}  // namespace

// Call once per device during device initialisation (tt-metal registers its own SHM observer at
// the same point, after the device's allocator exists): registers the observer once per process
// and announces the device — arch, chip unique id, capacities and bank geometry.
void RegisterDevice(tm::IDevice* device) {
  if (!ttmem_enabled()) return;
  tm::register_buffer_allocation_observer_once(
      typeid(TtmemBufferObserver), [] { return std::make_shared<TtmemBufferObserver>(); });
  ttmem_device_info info = TTMEM_DEVICE_INFO_INIT;
  info.device = static_cast<uint32_t>(device->id());
  std::snprintf(info.arch, sizeof info.arch, "%s", ArchName(device->arch()));
  const auto& chip_ids = tm::MetalContext::instance().get_cluster().get_unique_chip_ids();
  if (auto it = chip_ids.find(device->id()); it != chip_ids.end()) info.unique_id = it->second;
  const auto& allocator = device->allocator();
  struct Kind {
    tm::BufferType type;
    ttmem_mem_type ttmem;
  };
  for (Kind k :
       {Kind{tm::BufferType::DRAM, TTMEM_DRAM}, Kind{tm::BufferType::L1, TTMEM_L1},
        Kind{tm::BufferType::L1_SMALL, TTMEM_L1_SMALL}, Kind{tm::BufferType::TRACE, TTMEM_TRACE}}) {
    const uint32_t banks = allocator->get_num_banks(k.type);
    // Statistics are per bank (each bank manager allocates in one bank's address range).
    info.capacity_bytes[k.ttmem] =
        static_cast<uint64_t>(allocator->get_statistics(k.type).total_allocatable_size_bytes) *
        banks;
    info.bank_count[k.ttmem] = banks;
  }
  // Bank bases the public Allocator gives: DRAM and L1. L1_SMALL and TRACE keep 0 (no
  // fragmentation view for them; their totals are still exact).
  info.bank_base[TTMEM_DRAM] = allocator->get_base_allocator_addr(tm::HalMemType::DRAM);
  info.bank_base[TTMEM_L1] = allocator->get_base_allocator_addr(tm::HalMemType::L1);
  info.bank_count[TTMEM_L1_SMALL] = info.bank_count[TTMEM_TRACE] = 0;
  info.num_cores = allocator->get_num_banks(tm::BufferType::L1);
  ttmem_device_announce(&info);
}

// The pre-allocated path: Buffer::create(device, address, ...) (e.g. a MeshBuffer's per-device
// buffer) owns no allocation and never reaches the observer; report it from there.
void OnPreallocatedBuffer(const tm::Buffer* buffer, bool created) {
  BufferEvent e = EventOf(buffer);
  e.preallocated = true;
  created ? BufferAllocated(e) : BufferDeallocated(e);
}

// Circular buffers: call at the end of ProgramImpl::allocate_circular_buffers(device), after the
// layout loop (and also on its early return when the layout was already computed, so a program
// first run on another device is counted there too). Reports every locally allocated CB of the
// program on `device` (each device of a MeshDevice), replacing what was reported for this
// program there before (a re-layout after invalidate_circular_buffer_allocation()). Globally
// allocated CBs are skipped by the shared code: their L1 buffer is already counted.
void OnCircularBuffersAllocated(const tm::detail::ProgramImpl& program, const tm::IDevice* device) {
  if (!ttmem_enabled()) return;
  const bool hooked = tm::GraphTracker::instance().get_hook() != nullptr;
  const uint64_t program_id = static_cast<uint64_t>(program.get_id());
  ForEachDevice(device, [&](const tm::IDevice* d) {
    const auto id = static_cast<uint32_t>(d->id());
    ProgramCircularBuffersReleased(id, program_id);
    uint32_t index = 0;
    for (const auto& cb : program.circular_buffers()) {
      CircularBufferEvent e;
      e.device = id;
      e.program_id = program_id;
      e.cb_index = index++;  // position in the program: stable, fits the id's 16 bits
      e.address = cb->address();
      e.size_per_core = cb->size();  // a CB config's total size is what each core reserves
      e.num_cores = static_cast<uint32_t>(cb->core_ranges().num_cores());
      e.globally_allocated = cb->globally_allocated();
      e.hooked = hooked;
      CircularBufferAllocated(e);
    }
  });
}

// Call from ProgramImpl::deallocate_circular_buffers() / ~ProgramImpl(): the program's CBs are
// gone on every device it was laid out on.
void OnCircularBuffersReleased(const tm::detail::ProgramImpl& program, const tm::IDevice* device) {
  const uint64_t program_id = static_cast<uint64_t>(program.get_id());
  ForEachDevice(device, [&](const tm::IDevice* d) {
    ProgramCircularBuffersReleased(static_cast<uint32_t>(d->id()), program_id);
  });
}

}  // namespace ttmem::integration::tt_metal
