// observer.h — the simulator's internal device statistics hooks: what tt-metal's own
// shared-memory statistics provider hears from inside the runtime (device opened, every buffer
// placed on a device including the address-taking path, resident programs), on whatever thread
// does the work. Used by the --publish-shm publisher (and, with TTMEM_INTEGRATION_BREAK=view, to
// show why the address-taking path must not be reported). ttmem's tracking is not an observer: it
// is a GraphTracker processor (sim/tracking.cc), as with real tt-metal.
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
  // A program was dispatched or destroyed: the device's resident CBs and kernels may differ.
  virtual void ResidentChanged(const Device& /*device*/) {}
};

class AllocationObservers {
 public:
  static void Add(std::shared_ptr<AllocationObserver> observer);
  static void Clear();
  static void ForEach(const std::function<void(AllocationObserver&)>& fn);
};

}  // namespace ttsim

#endif  // TTMEM_SIM_OBSERVER_H_
