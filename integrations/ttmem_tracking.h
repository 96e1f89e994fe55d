// ttmem_tracking.h — the tracking adapter: what a tt-metal-shaped runtime calls so that every
// allocation path reaches libttmem exactly once. Used by ttmem's simulator (sim/tracking.cc) and
// written for real tt-metal (docs/sim.md, "Hook points"): plain values in, no runtime types, C++17,
// depends only on <ttmem/ttmem.h>. Thread-safe; cheap when tracking is off (ttmem_enabled()).
//
// The seeds' fix, done right:
//   - buffers: call BufferAllocated from the allocate path after the hook/allocator decision and
//     from the pre-allocated Buffer::create(device, address, ...), on whatever thread runs it
//     (a process-wide observer, not a per-thread GraphTracker processor);
//   - a MeshBuffer counts once per device through its per-device (pre-allocated) buffers; its
//     backing buffer on the MeshDevice (mesh_backing) is never counted on top;
//   - a hooked allocation (graph capture, NO_DISPATCH) is reported flagged: no device memory,
//     shown apart as a capture estimate;
//   - circular buffers: each one placed by the CB allocator, released with its program; a globally
//     allocated CB is skipped (its L1 buffer is already counted as L1);
//   - kernel binaries: per kernel while its program is loaded.
#ifndef TTMEM_INTEGRATIONS_TTMEM_TRACKING_H_
#define TTMEM_INTEGRATIONS_TTMEM_TRACKING_H_

#include <cstdint>

namespace ttmem::integration {

enum class BufferType : int { kDram = 0, kL1 = 1, kSystemMemory = 2, kL1Small = 3, kTrace = 4 };

struct BufferEvent {
  uint32_t device = 0;  // logical id of the device the buffer is on
  BufferType type = BufferType::kDram;
  uint64_t buffer_id = 0;  // the Buffer's unique id (never its address); < 2^62
  uint64_t address = 0;
  uint64_t size = 0;
  bool hooked = false;        // a GraphTracker hook intercepted it: address 0, no memory
  bool preallocated = false;  // Buffer::create(device, address, ...): owns no allocation
  bool mesh_backing = false;  // a MeshBuffer's backing buffer on the MeshDevice
};
void BufferAllocated(const BufferEvent& e);
void BufferDeallocated(const BufferEvent& e);

struct CircularBufferEvent {
  uint32_t device = 0;
  uint64_t program_id = 0;
  uint32_t cb_index = 0;
  uint64_t address = 0;
  uint64_t size_per_core = 0;
  uint32_t num_cores = 0;
  bool globally_allocated = false;
  bool hooked = false;
};
void CircularBufferAllocated(const CircularBufferEvent& e);
// Releases every circular buffer reported for this program on this device.
void ProgramCircularBuffersReleased(uint32_t device, uint64_t program_id);

struct KernelEvent {
  uint32_t device = 0;
  uint64_t program_id = 0;
  uint32_t kernel_index = 0;
  uint64_t binary_size = 0;  // per core
  uint32_t num_cores = 0;
  bool hooked = false;
};
void KernelLoaded(const KernelEvent& e);
void ProgramKernelsUnloaded(uint32_t device, uint64_t program_id);

// Ids reported for CBs and kernels, apart from buffer ids: bit 63 (CBs) or bit 62 (kernels) set,
// program id in bits 16..61, index in bits 0..15.
uint64_t CircularBufferId(uint64_t program_id, uint32_t cb_index);
uint64_t KernelId(uint64_t program_id, uint32_t kernel_index);

// Test-only: TTMEM_INTEGRATION_SKIP_FOR_TESTING=preallocated,cb,kernel disables those paths, so
// tests can show that each one is needed. Read once.
bool SkipForTesting(const char* path);

}  // namespace ttmem::integration

#endif  // TTMEM_INTEGRATIONS_TTMEM_TRACKING_H_
