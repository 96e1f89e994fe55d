#include "sim/tracking.h"

#include "sim/shm_publisher.h"

#include <atomic>
#include <cstdio>
#include <memory>

#include "sim/buffer.h"
#include "sim/graph_tracker.h"
#include "sim/observer.h"
#include "sim/program.h"
#include "ttmem/ttmem.h"
#include "ttmem_tracking.h"

namespace ttsim {
namespace {

namespace ti = ttmem::integration;

ti::BufferEvent EventOf(const Buffer& b) {
  ti::BufferEvent e;
  e.device = b.target().id();
  e.type = static_cast<ti::BufferType>(b.type());
  e.buffer_id = b.id();
  e.address = b.address();
  e.size = b.size();
  e.hooked = b.hooked();
  e.preallocated = !b.owns_data();
  e.mesh_backing = b.target().is_mesh();
  return e;
}

void Announce(const Device& d) {
  ttmem_device_info info = TTMEM_DEVICE_INFO_INIT;
  info.device = d.id();
  info.unique_id = SimChipId(d.id());  // the same chip id --publish-shm names its regions with
  std::snprintf(info.arch, sizeof(info.arch), "%s", d.arch().name.c_str());
  info.num_cores = d.arch().num_cores();
  for (int t = 0; t < kNumMemTypes; ++t) {
    info.capacity_bytes[t] = d.Capacity(static_cast<MemType>(t));
    // Bank geometry of the interleaved types (CBs and kernels sit on chosen cores: none).
    if (const BankAllocator* a = d.BankAllocatorFor(static_cast<MemType>(t))) {
      info.bank_count[t] = a->num_banks();
      info.bank_base[t] = a->base();
    }
  }
  ttmem_device_announce(&info);
}

class TtmemObserver : public AllocationObserver {
 public:
  explicit TtmemObserver(bool buffers) : buffers_(buffers) {}
  void DeviceOpened(const Device& d) override { Announce(d); }
  void BufferAllocated(const Buffer& b) override {
    if (buffers_) ti::BufferAllocated(EventOf(b));
  }
  void BufferDeallocated(const Buffer& b) override {
    if (buffers_) ti::BufferDeallocated(EventOf(b));
  }
  void CircularBufferAllocated(const Device& d, const Program& p, uint32_t index,
                               const CoreRange& range, uint64_t address, uint64_t size, bool global,
                               bool hooked) override {
    if (!buffers_) return;
    ti::CircularBufferAllocated(
        {d.id(), p.id(), index, address, size, range.num_cores(), global, hooked});
  }
  void CircularBuffersDeallocated(const Device& d, const Program& p) override {
    if (buffers_) ti::ProgramCircularBuffersReleased(d.id(), p.id());
  }
  void KernelLoaded(const Device& d, const Program& p, uint32_t index, const CoreRange& range,
                    uint64_t binary_size, bool hooked) override {
    if (buffers_) ti::KernelLoaded({d.id(), p.id(), index, binary_size, range.num_cores(), hooked});
  }
  void KernelsUnloaded(const Device& d, const Program& p) override {
    if (buffers_) ti::ProgramKernelsUnloaded(d.id(), p.id());
  }

 private:
  bool buffers_;  // false: announce devices only
};

// The proof of concept's approach: a background processor on one thread's GraphTracker stack.
class PocProcessor : public IGraphProcessor {
 public:
  void track_allocate(const Buffer* b) override { ti::BufferAllocated(EventOf(*b)); }
  void track_deallocate(const Buffer* b) override { ti::BufferDeallocated(EventOf(*b)); }
  void track_allocate_cb(const CoreRange& range, uint64_t addr, uint64_t size, bool global,
                         const Device* d) override {
    uint32_t index = next_.fetch_add(1);
    ti::CircularBufferAllocated({d->id(), 0, index, addr, size, range.num_cores(), global, false});
  }
  void track_deallocate_cb(const Device* d) override {
    ti::ProgramCircularBuffersReleased(d->id(), 0);
  }
  bool is_capture_processor() const override { return false; }

 private:
  std::atomic<uint32_t> next_{0};
};

}  // namespace

void InstallTracking(TrackingMode mode) {
  if (mode == TrackingMode::kObserver) {
    AllocationObservers::Add(std::make_shared<TtmemObserver>(/*buffers=*/true));
  } else {
    AllocationObservers::Add(std::make_shared<TtmemObserver>(/*buffers=*/false));
    GraphTracker::instance().push_processor(std::make_shared<PocProcessor>());
  }
}

}  // namespace ttsim
