// observer.h — the process-wide allocation observer registry (the shape of tt-metal's newer
// BufferAllocationObserver in tt_metal/impl/memory_tracking/): called from the buffer allocate
// and free paths, the pre-allocated path, circular-buffer placement and release and kernel
// loading, on whatever thread does the work. Unlike GraphTracker processors it is not per thread.
#ifndef TTMEM_SIM_OBSERVER_H_
#define TTMEM_SIM_OBSERVER_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "sim/device.h"

namespace ttsim {

class Buffer;
class Program;

class AllocationObserver {
 public:
  virtual ~AllocationObserver() = default;
  virtual void DeviceOpened(const Device& /*device*/) {}
  virtual void BufferAllocated(const Buffer& /*buffer*/) {}
  virtual void BufferDeallocated(const Buffer& /*buffer*/) {}
  // `hooked`: a graph-capture hook intercepted the program; nothing was placed on the device.
  virtual void CircularBufferAllocated(const Device& /*device*/, const Program& /*program*/,
                                       uint32_t /*cb_index*/, const CoreRange& /*range*/,
                                       uint64_t /*address*/, uint64_t /*size_per_core*/,
                                       bool /*globally_allocated*/, bool /*hooked*/) {}
  virtual void CircularBuffersDeallocated(const Device& /*device*/, const Program& /*program*/) {}
  virtual void KernelLoaded(const Device& /*device*/, const Program& /*program*/,
                            uint32_t /*kernel_index*/, const CoreRange& /*range*/,
                            uint64_t /*binary_size*/, bool /*hooked*/) {}
  virtual void KernelsUnloaded(const Device& /*device*/, const Program& /*program*/) {}
};

class AllocationObservers {
 public:
  static void Add(std::shared_ptr<AllocationObserver> observer);
  static void Clear();
  static void ForEach(const std::function<void(AllocationObserver&)>& fn);
};

}  // namespace ttsim

#endif  // TTMEM_SIM_OBSERVER_H_
