#include "sim/program.h"

#include <algorithm>
#include <map>
#include <mutex>

#include "sim/graph_tracker.h"
#include "sim/mesh.h"
#include "sim/observer.h"
#include "ttmem_tracking.h"

namespace ttsim {

std::atomic<uint64_t> Program::next_id_{1};

Program::Program() : id_(next_id_.fetch_add(1)), alive_(std::make_shared<int>(0)) {}

Program::~Program() {
  alive_.reset();  // as ~ProgramImpl runs once nothing holds the program
  for (Device* d : devices_) {
    std::lock_guard<std::mutex> lock(d->dispatch_mutex());
    d->ProgramDestroyed(id_);
    // ProgramImpl::deallocate_circular_buffers, for every device the CBs were laid out on.
    GraphTracker::instance().track_deallocate_cb(d);
    AllocationObservers::ForEach([&](AllocationObserver& o) { o.ResidentChanged(*d); });
  }
}

uint32_t Program::AddCircularBuffer(const CoreRange& range, CircularBufferConfig config) {
  cbs_.push_back({range, std::move(config)});
  laid_out_ = false;
  return static_cast<uint32_t>(cbs_.size() - 1);
}

uint32_t Program::AddKernel(const CoreRange& range, uint64_t binary_size) {
  kernels_.push_back({range, binary_size});
  laid_out_ = false;
  return static_cast<uint32_t>(kernels_.size() - 1);
}

// The program's CB layout, as tt-metal's ProgramImpl::allocate_circular_buffers makes it: the
// placement and the per-core reservation are tt-metal's rule (integrations/, CbReservedBytes),
// from the L1 base, aligned to the DRAM alignment.
void Program::LayOut(const ArchSpec& arch) {
  placed_.clear();
  footprint_ = {};
  cb_top_ = arch.l1_bank_base();
  std::vector<ttmem::integration::CoreRect> ranges;
  ranges.reserve(cbs_.size());
  for (const Cb& cb : cbs_) {
    if (cb.range.x1 >= arch.grid_x || cb.range.y1 >= arch.grid_y || cb.range.x0 > cb.range.x1 ||
        cb.range.y0 > cb.range.y1)
      throw std::invalid_argument("circular buffer core range outside the grid");
    ranges.push_back({cb.range.x0, cb.range.y0, cb.range.x1, cb.range.y1});
  }
  std::vector<ttmem::integration::ProgramCb> cbs;
  for (size_t i = 0; i < cbs_.size(); ++i)
    cbs.push_back(
        {&ranges[i], 1, cbs_[i].config.size, cbs_[i].config.globally_allocated != nullptr});
  std::vector<uint64_t> addresses(cbs.size(), 0);
  footprint_.cb_bytes = ttmem::integration::CbReservedBytes(
      cbs.data(), cbs.size(), arch.l1_bank_base(), arch.dram_alignment, addresses.data());
  for (size_t i = 0; i < cbs_.size(); ++i) {
    const Cb& cb = cbs_[i];
    PlacedCb p{cb.range, addresses[i], cb.config.size, cb.config.globally_allocated != nullptr};
    if (p.global) {
      p.address = cb.config.globally_allocated->address();
    } else {
      cb_top_ = std::max(cb_top_, p.address + p.size);
    }
    placed_.push_back(p);
  }
  std::map<std::pair<uint32_t, uint32_t>, uint64_t> binaries;
  kernel_max_per_core = 0;
  for (const Kernel& k : kernels_) {
    footprint_.kernel_bytes += k.binary_size * k.range.num_cores();
    for (uint32_t y = k.range.y0; y <= k.range.y1; ++y)
      for (uint32_t x = k.range.x0; x <= k.range.x1; ++x)
        kernel_max_per_core = std::max(kernel_max_per_core, binaries[{x, y}] += k.binary_size);
  }
  laid_out_ = true;
}

void Program::Launch(AllocTarget& target) {
  std::vector<Device*> devs;
  if (target.is_mesh()) {
    for (const auto& d : static_cast<MeshDevice&>(target).devices()) devs.push_back(d.get());
  } else {
    devs.push_back(static_cast<Device*>(&target));
  }
  // A device's command queue dispatches one program at a time.
  std::vector<std::unique_lock<std::mutex>> locks;
  for (Device* d : devs) locks.emplace_back(d->dispatch_mutex());
  if (!laid_out_) LayOut(target.arch());
  const bool blocked = GraphTracker::instance().hook_program(this);
  if (!blocked) {
    std::vector<Device::Resident> before;
    try {
      for (Device* d : devs)
        before.push_back(d->Dispatch(id_, footprint_, cb_top_, kernel_max_per_core));
    } catch (...) {
      for (size_t i = 0; i < before.size(); ++i) devs[i]->Restore(before[i]);
      throw;
    }
    for (Device* d : devs)
      AllocationObservers::ForEach([&](AllocationObserver& o) { o.ResidentChanged(*d); });
  }
  GraphTracker::instance().track_program(this, &target);
  if (blocked) return;
  for (Device* d : devs) {
    if (!devices_.insert(d).second) continue;
    for (const PlacedCb& cb : placed_)
      GraphTracker::instance().track_allocate_cb(cb.range, cb.address, cb.size, cb.global, d);
  }
}

}  // namespace ttsim
