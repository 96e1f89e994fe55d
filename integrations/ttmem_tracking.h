// ttmem_tracking.h — the processor rules: what a GraphTracker processor in a tt-metal-shaped
// runtime does with each callback so that every byte of device memory reaches libttmem once.
// One rules module, two thin typed shells: libttmem_tt_metal.so (real tt-metal,
// integrations/tt-metal/) and the simulator's processor (sim/tracking.cc). Plain values in, no
// runtime types, C++17, depends only on <ttmem/ttmem.h>. Thread-safe.
//
// The rules (docs/tt-metal.md; each has a test that fails when it is broken, tests/sim_test.cc):
//   - buffers are reported from track_allocate/track_deallocate only (Buffer::allocate_impl);
//     the address-taking Buffer::create (views, a MeshBuffer's per-device buffers,
//     CreateBuffer(config, address)) owns no memory and is never reported;
//   - a buffer allocated on a MeshDevice (a MeshBuffer's backing buffer) is reported once on
//     every chip of its mesh, never under the MeshDevice's own id (a counter from 0 that
//     collides with chip 0);
//   - a capture estimate is a buffer a hook blocked: address 0 while a hook is installed on the
//     allocating thread (NO_DISPATCH). A NORMAL-mode capture also installs a hook, but its
//     allocations are real;
//   - CB and KERNEL are resident, not cached: at program dispatch the process's figure on each
//     chip becomes the dispatched program's layout, replacing the previous one; a program's CBs
//     are tt-metal's reservation (CbReservedBytes, checked against tt-metal in real processes);
//   - the processor is on every thread (thread_start.cc wraps thread start, where tt-metal's
//     processor lists are per thread) and comes back after GraphTracker::clear();
//     TT_METAL_SHM_TRACKING_DISABLED (tt-metal's own statistics) does not switch it off.
#ifndef TTMEM_INTEGRATIONS_TTMEM_TRACKING_H_
#define TTMEM_INTEGRATIONS_TTMEM_TRACKING_H_

#include <cstddef>
#include <cstdint>

#include "ttmem/ttmem.h"

namespace ttmem::integration {

enum class BufferType : int { kDram = 0, kL1 = 1, kSystemMemory = 2, kL1Small = 3, kTrace = 4 };

// The chips something occupies: one device, or every chip of a MeshDevice.
struct Chips {
  const uint32_t* ids = nullptr;
  size_t count = 0;
};

// A buffer as track_allocate / track_deallocate see it.
struct BufferEvent {
  BufferType type = BufferType::kDram;
  uint64_t buffer_id = 0;  // Buffer::unique_id(), never its address
  uint64_t address = 0;
  uint64_t size = 0;
  bool hook_installed = false;  // GraphTracker::get_hook() != nullptr on the allocating thread
};
inline void BufferAllocated(const BufferEvent& e, Chips chips);
inline void BufferDeallocated(uint64_t buffer_id, Chips chips);

// The hook rule: only a blocked allocation (address 0 under a hook) holds no device memory.
bool IsCaptureEstimate(bool hook_installed, uint64_t address);

// A program's resident footprint on one chip: CBs (tt-metal's reservation, CbReservedBytes) and
// kernel binaries (per core, summed over cores).
struct ProgramLayout {
  uint64_t cb_bytes = 0;
  uint64_t kernel_bytes = 0;
  bool operator==(const ProgramLayout& o) const {
    return cb_bytes == o.cb_bytes && kernel_bytes == o.kernel_bytes;
  }
};
// At dispatch (track_program of a program no hook blocked): the chips' resident figures become
// `layout`. The same layout as what is resident: a comparison, no event. A change: one free and
// one allocation per chip and type that changed. A program a NO_DISPATCH capture blocked is never
// resident (and not shown as an estimate: nothing tells the processor when the capture ends).
void ProgramDispatched(Chips chips, const ProgramLayout& layout);
// The resident program was destroyed (track_deallocate_cb while the program dispatched last is
// gone): nothing is resident there any more.
void ResidentReleased(Chips chips);
// The resident ids (per chip and type; bit 61 set, apart from tt-metal's buffer ids).
uint64_t ResidentId(bool cb);

// A rectangle of cores [x0..x1] x [y0..y1] (tt-metal's CoreRange).
struct CoreRect {
  uint32_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  bool operator==(const CoreRect& o) const {
    return x0 == o.x0 && y0 == o.y0 && x1 == o.x1 && y1 == o.y1;
  }
};
// One circular buffer of a program, in the order the program added them: the core ranges of its
// CoreRangeSet, its size (per core) and whether it is globally allocated (it then lives in an L1
// buffer, counted as L1, and takes no CB space; its ranges still shape the layout).
struct ProgramCb {
  const CoreRect* ranges = nullptr;
  size_t range_count = 0;
  uint64_t size = 0;
  bool global = false;
};
// tt-metal's CB reservation of a program on one chip, the one definition both shells report
// (tt-metal a8c5af0f5a: ProgramImpl::add_circular_buffer_, allocate_circular_buffers,
// get_cb_l1_regions_per_core; Device::get_total_cb_allocated):
//   - the program keeps one CB allocator per distinct core range of its CBs (global CBs too);
//   - each local CB is placed at the highest end among the allocators of exactly its ranges
//     (at least `base`, the L1 allocator's base), aligned to `alignment` (the DRAM alignment);
//   - that region is marked on every allocator whose range intersects one of its ranges, unless
//     that allocator's range is not one of the CB's own and already ends above the address;
//   - every core of an allocator's range holds that allocator's regions; per core the regions
//     are merged, and the reservation is the merged bytes summed over cores.
// So a CB on (0,0)-(1,1) reserves its bytes on every core of a CB range (1,1)-(2,2) that overlaps
// it. `addresses` (n entries, may be null) receives each local CB's address.
uint64_t CbReservedBytes(const ProgramCb* cbs, size_t n, uint64_t base, uint64_t alignment,
                         uint64_t* addresses = nullptr);
// What a shell reports for a program's CBs: CbReservedBytes (TTMEM_INTEGRATION_BREAK=cb-union:
// the naive sum of size x cores of each local CB, which tt-metal's figure exceeds wherever
// ranges overlap).
uint64_t CbReportedBytes(const ProgramCb* cbs, size_t n, uint64_t base, uint64_t alignment);

// Devices are announced on first sight: true once per chip id.
bool FirstSight(uint32_t chip);

// The ttnn op running on this thread (track_function_start / end), innermost; "" outside any.
// Bounded: 32 levels, names cut at 63 bytes. Each start is also libttmem's scope
// (ttmem_scope_push), so the allocations made inside carry the op's name; each end pops it.
void FunctionStarted(const char* name, size_t len);
void FunctionEnded();
const char* CurrentOp();

// Out of memory (issue 17): where the runtime catches an error, `what` is its text. When it is
// one of tt-metal's allocation failures (ttmem_is_out_of_memory), the process's snapshot is
// taken while its buffers are still held, saved and summarised on stderr (ttmem_oom_snapshot).
// Returns ttmem_oom_snapshot's result (1 saved, 0 not an OOM, -1 failed).
int ErrorCaught(const char* what);
// A std::terminate handler that does the same for an exception nobody caught (the stack is not
// unwound then: every buffer is still held), then calls the handler it replaced. Installed once;
// both shells install it with the processor.
void InstallTerminateSnapshot();

// Thread coverage: `install` runs on every thread started after it is set (thread_start.cc wraps
// pthread_create when it is linked in) and after GraphTracker::clear() where the shell can see
// it. Returns the previous one.
using ThreadInstaller = void (*)();
ThreadInstaller SetThreadInstaller(ThreadInstaller install);
void RunThreadInstaller();

// Test-only: TTMEM_INTEGRATION_BREAK=mesh,hook,view,residency,threads,clear,shm-disabled,cb-union
// turns a
// rule into the naive behaviour it replaced, so a test can show each rule is needed. Read once.
enum BrokenRule : unsigned {
  kBreakMesh = 1,          // the backing buffer reported under the MeshDevice's id
  kBreakHook = 2,          // every allocation under a hook shown as a capture estimate
  kBreakView = 4,          // address-taking creates reported as memory
  kBreakResidency = 8,     // CBs and kernels summed over every cached program
  kBreakThreads = 16,      // the processor only on the thread that installed it
  kBreakClear = 32,        // not restored after GraphTracker::clear()
  kBreakShmDisabled = 64,  // TT_METAL_SHM_TRACKING_DISABLED=1 switches tracking off
  kBreakCbUnion = 128,     // a program's CBs reported as the sum of size x cores
};
bool Broken(BrokenRule rule);

// The two calls of the hot path, inline: a processor callback costs the C ABI's calls and a test
// (each of which returns at once while tracking is off).
inline void BufferAllocated(const BufferEvent& e, Chips chips) {
  const uint32_t flags =
      e.hook_installed && IsCaptureEstimate(true, e.address) ? TTMEM_ALLOC_HOOKED : 0u;
  if (chips.count == 1) {
    ttmem_alloc_ex(chips.ids[0], static_cast<ttmem_mem_type>(e.type), e.buffer_id, e.address,
                   e.size, flags);
  } else {
    ttmem_alloc_devices(chips.ids, static_cast<uint32_t>(chips.count),
                        static_cast<ttmem_mem_type>(e.type), e.buffer_id, e.address, e.size, flags);
  }
}

inline void BufferDeallocated(uint64_t buffer_id, Chips chips) {
  if (chips.count == 1) {
    ttmem_free(chips.ids[0], buffer_id);
  } else {
    ttmem_free_devices(chips.ids, static_cast<uint32_t>(chips.count), buffer_id);
  }
}

}  // namespace ttmem::integration

#endif  // TTMEM_INTEGRATIONS_TTMEM_TRACKING_H_
