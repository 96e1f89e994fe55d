// device.h — a simulated device: one allocator per memory type, a circular-buffer allocator per
// core, a kernel-binary region per core, and the device's own statistics of what it holds.
//
// Statistics ("usage") count what each path claims, the way the tracking adapter reports it:
//   DRAM, L1, L1_SMALL, TRACE, SYSTEM_MEMORY: buffer size, one per buffer (mesh buffers: the
//     per-device size, claimed in lock step by the mesh);
//   CB: CB size x cores of its core range, one per circular buffer (not globally allocated ones:
//     their L1 buffer is counted as L1);
//   KERNEL: binary size x cores, one per kernel while its program is loaded.
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
inline constexpr int kNumMemTypes = 7;
const char* MemTypeName(MemType t);

struct Usage {
  uint64_t bytes = 0;
  uint64_t count = 0;
  bool operator==(const Usage&) const = default;
};
using UsageByType = std::array<Usage, kNumMemTypes>;

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

  uint64_t AllocateCircularBuffer(const CoreRange& range, uint64_t size);
  void FreeCircularBuffer(const CoreRange& range, uint64_t address);
  void LoadKernel(const CoreRange& range, uint64_t binary_size);
  void UnloadKernel(const CoreRange& range, uint64_t binary_size);

  // Capacity per type in bytes, as announced to ttmem.
  uint64_t Capacity(MemType type) const;
  UsageByType UsageSnapshot() const;
  AllocatorStats Statistics(MemType type) const;  // per bank, like tt-metal

 private:
  void CheckRange(const CoreRange& r) const;
  uint32_t Core(uint32_t x, uint32_t y) const { return y * arch_.grid_x + x; }
  uint64_t CbHighWater() const;  // highest CB end over all cores

  uint32_t id_;
  ArchSpec arch_;
  mutable std::mutex mu_;  // guards everything below (worker threads allocate too)
  std::unique_ptr<BankAllocator> dram_, l1_, l1_small_, trace_, sysmem_;
  std::map<uint64_t, uint64_t> buffer_sizes_[kNumMemTypes];  // address -> size, per type
  std::vector<std::map<uint64_t, uint64_t>> cb_blocks_;      // per core: address -> size
  std::vector<uint64_t> kernel_used_;                        // per core bytes
  UsageByType usage_{};
};

}  // namespace ttsim

#endif  // TTMEM_SIM_DEVICE_H_
