// device.h — a simulated device: one allocator per memory type, a circular-buffer allocator per
// core, a kernel-binary region per core, and the device's own statistics of what it holds.
//
// Statistics ("usage") count what each path claims, the way the tracking adapter reports it:
//   DRAM, L1, L1_SMALL, TRACE, SYSTEM_MEMORY: buffer size, one per buffer (mesh buffers: the
//     per-device size, claimed in lock step by the mesh);
//   CB and KERNEL: what the resident program (the one dispatched last) holds: its CBs' sizes x
//     cores (not globally allocated ones: their L1 buffer is counted as L1) and its binaries'
//     sizes x cores, one entry each; other programs in a program cache hold nothing.
#ifndef TTMEM_SIM_DEVICE_H_
#define TTMEM_SIM_DEVICE_H_

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "sim/allocator.h"
#include "sim/arch.h"
#include "ttmem/ttmem.h"

namespace ttsim {

// tt-metal's BufferType values, then ttmem's CB and KERNEL.
enum class MemType : int {
  kDram = 0,
  kL1 = 1,
  kSystemMemory = 2,
  kL1Small = 3,
  kTrace = 4,
  kCb = 5,
  kKernel = 6
};
inline constexpr int kNumMemTypes = TTMEM_MEM_TYPE_COUNT;  // the C ABI's count
const char* MemTypeName(MemType t);

struct Usage {
  uint64_t bytes = 0;
  uint64_t count = 0;
  bool operator==(const Usage&) const = default;
};
using UsageByType = std::array<Usage, kNumMemTypes>;

// A program's footprint on one device while it is resident.
struct Footprint {
  uint64_t cb_bytes = 0;
  uint64_t kernel_bytes = 0;
};

struct CoreRange {  // inclusive, in worker-grid coordinates
  uint32_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  uint32_t num_cores() const { return (x1 - x0 + 1) * (y1 - y0 + 1); }
};

// Something a Buffer can be allocated on: a Device or a MeshDevice.
class AllocTarget {
 public:
  virtual ~AllocTarget() = default;
  virtual uint32_t id() const = 0;
  virtual bool is_mesh() const = 0;
  virtual const ArchSpec& arch() const = 0;
  // Allocates a buffer of `size` bytes (pages of `page_size`) and returns its address.
  virtual uint64_t AllocateBuffer(MemType type, uint64_t size, uint64_t page_size,
                                  bool bottom_up) = 0;
  virtual void FreeBuffer(MemType type, uint64_t address) = 0;
};

class Device : public AllocTarget {
 public:
  Device(uint32_t id, const ArchSpec& arch);
  uint32_t id() const override { return id_; }
  bool is_mesh() const override { return false; }
  const ArchSpec& arch() const override { return arch_; }
  uint64_t AllocateBuffer(MemType type, uint64_t size, uint64_t page_size, bool bottom_up) override;
  void FreeBuffer(MemType type, uint64_t address) override;

  // Mesh lock step: claims [address, +per-bank size) for a buffer of `size`. Throws on clash.
  void ClaimBufferAt(MemType type, uint64_t address, uint64_t size, uint64_t page_size);
  // The address `AllocateBuffer` would pick, without taking it (mesh planning).
  BankAllocator& allocator(MemType type);
  // The bank allocator of a buffer type, or null for CB and KERNEL (placed per core).
  const BankAllocator* BankAllocatorFor(MemType type) const;

  // Program dispatch: program `id` becomes resident (its CBs end at `cb_top` on the fullest
  // core; `kernel_per_core`: its largest binary total on one core). Throws OutOfMemory when the
  // CBs would clash with L1 buffers or the binaries overflow the kernel-config region. Returns
  // what was resident, for Restore.
  struct Resident {
    uint64_t program = 0;
    Footprint footprint;
    uint64_t cb_top = 0;
  };
  Resident Dispatch(uint64_t id, const Footprint& f, uint64_t cb_top, uint64_t kernel_per_core);
  void Restore(const Resident& r);
  // Program `id` was destroyed: if it is resident, nothing is any more.
  void ProgramDestroyed(uint64_t id);
  Footprint ResidentFootprint() const;
  // Held while a program is dispatched or destroyed on this device (one command queue).
  std::mutex& dispatch_mutex() { return dispatch_mu_; }

  // Capacity per type in bytes, as announced to ttmem.
  uint64_t Capacity(MemType type) const;
  UsageByType UsageSnapshot() const;
  AllocatorStats Statistics(MemType type) const;  // per bank, like tt-metal

 private:
  uint64_t CbHighWater() const;  // highest CB end of the resident program
  void SetResident(const Resident& r);

  uint32_t id_;
  ArchSpec arch_;
  std::mutex dispatch_mu_;
  mutable std::mutex mu_;  // guards everything below (worker threads allocate too)
  std::unique_ptr<BankAllocator> dram_, l1_, l1_small_, trace_, sysmem_;
  std::map<uint64_t, uint64_t> buffer_sizes_[kNumMemTypes];  // address -> size, per type
  Resident resident_;
  UsageByType usage_{};
};

}  // namespace ttsim

#endif  // TTMEM_SIM_DEVICE_H_
