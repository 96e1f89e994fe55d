#include "sim/program.h"

#include "sim/graph_tracker.h"
#include "sim/observer.h"

namespace ttsim {

std::atomic<uint64_t> Program::next_id_{1};

Program::Program() : id_(next_id_.fetch_add(1)) {}

Program::~Program() {
  while (!placed_.empty()) Release(*placed_.begin()->first);
}

uint32_t Program::AddCircularBuffer(const CoreRange& range, CircularBufferConfig config) {
  cbs_.push_back({range, std::move(config)});
  return static_cast<uint32_t>(cbs_.size() - 1);
}

uint32_t Program::AddKernel(const CoreRange& range, uint64_t binary_size) {
  kernels_.push_back({range, binary_size});
  return static_cast<uint32_t>(kernels_.size() - 1);
}

void Program::Launch(Device& device) {
  if (placed_.count(&device)) return;
  // Registered first, so that Release undoes a launch that fails half way.
  Placed& placed = placed_[&device];
  placed.hooked = GraphTracker::instance().hook_program(this);
  GraphTracker::instance().track_program(this);
  try {
    // ProgramImpl::allocate_circular_buffers: the CB allocator, not the device allocator.
    for (uint32_t i = 0; i < cbs_.size(); ++i) {
      const Cb& cb = cbs_[i];
      bool global = cb.config.globally_allocated != nullptr;
      uint64_t addr = 0;
      if (global)
        addr = cb.config.globally_allocated->address();
      else if (!placed.hooked)
        addr = device.AllocateCircularBuffer(cb.range, cb.config.size);
      placed.cb_addresses.push_back(global || placed.hooked ? 0 : addr);
      AllocationObservers::ForEach([&](AllocationObserver& o) {
        o.CircularBufferAllocated(device, *this, i, cb.range, addr, cb.config.size, global,
                                  placed.hooked);
      });
      GraphTracker::instance().track_allocate_cb(cb.range, addr, cb.config.size, global, &device);
    }
    for (uint32_t k = 0; k < kernels_.size(); ++k) {
      if (!placed.hooked) device.LoadKernel(kernels_[k].range, kernels_[k].binary_size);
      ++placed.kernels_loaded;
      AllocationObservers::ForEach([&](AllocationObserver& o) {
        o.KernelLoaded(device, *this, k, kernels_[k].range, kernels_[k].binary_size, placed.hooked);
      });
    }
  } catch (...) {
    Release(device);
    throw;
  }
}

void Program::Release(Device& device) {
  auto it = placed_.find(&device);
  if (it == placed_.end()) return;
  Placed placed = std::move(it->second);
  placed_.erase(it);
  AllocationObservers::ForEach([&](AllocationObserver& o) {
    o.CircularBuffersDeallocated(device, *this);
    o.KernelsUnloaded(device, *this);
  });
  GraphTracker::instance().track_deallocate_cb(&device);
  if (placed.hooked) return;
  for (uint32_t i = 0; i < placed.cb_addresses.size(); ++i)
    if (cbs_[i].config.globally_allocated == nullptr)
      device.FreeCircularBuffer(cbs_[i].range, placed.cb_addresses[i]);
  for (uint32_t k = 0; k < placed.kernels_loaded; ++k)
    device.UnloadKernel(kernels_[k].range, kernels_[k].binary_size);
}

}  // namespace ttsim
