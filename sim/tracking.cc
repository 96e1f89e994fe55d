#include "sim/tracking.h"
#include "sim/system.h"

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "sim/buffer.h"
#include "sim/graph_tracker.h"
#include "sim/mesh.h"
#include "sim/observer.h"
#include "sim/program.h"
#include "sim/shm_publisher.h"
#include "ttmem/ttmem.h"
#include "ttmem_tracking.h"

namespace ttsim {
namespace {

namespace ti = ttmem::integration;

constexpr size_t kMaxMeshChips = 64;

// The chips a buffer or program target occupies (rule: a MeshDevice is every chip of its mesh,
// never its own id), and those chips' devices for announcing.
struct Target {
  uint32_t ids[kMaxMeshChips];
  const Device* devices[kMaxMeshChips];
  size_t count = 0;
  ti::Chips chips() const { return {ids, count}; }
};

Target ChipsOf(const AllocTarget& t) {
  Target out;
  if (t.is_mesh() && !ti::Broken(ti::kBreakMesh)) {
    for (const auto& d : static_cast<const MeshDevice&>(t).devices()) {
      if (out.count == kMaxMeshChips) break;
      out.ids[out.count] = d->id();
      out.devices[out.count++] = d.get();
    }
  } else {
    out.ids[0] = t.id();
    out.devices[0] = t.is_mesh() ? nullptr : static_cast<const Device*>(&t);
    out.count = 1;
  }
  return out;
}

void Announce(const Device& d) {
  ttmem_device_info info = TTMEM_DEVICE_INFO_INIT;
  info.device = d.id();
  info.unique_id = SimChipId(d.id());  // the same chip id --publish-shm names its regions with
  info.flags |= TTMEM_DEVICE_UNIQUE_ID_VALID;
  std::snprintf(info.arch, sizeof(info.arch), "%s", d.arch().name.c_str());
  info.num_cores = d.arch().num_cores();
  if (const ChipPlace* place = PlaceOf(d.id())) {  // --system: where the chip sits
    info.flags |= TTMEM_DEVICE_TOPOLOGY_VALID;
    info.pcie_id = static_cast<int32_t>(place->pcie_id);
    info.mmio_device = place->mmio_device;
    info.board_id = place->board_id;
    std::snprintf(info.board_type, sizeof(info.board_type), "%s", place->board_type.c_str());
  }
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

}  // namespace

void AnnounceDevice(const Device& d) {
  if (ti::FirstSight(d.id())) Announce(d);
}

namespace {

void AnnounceOnFirstSight(const Target& t) {
  for (size_t i = 0; i < t.count; ++i)
    if (t.devices[i] != nullptr && ti::FirstSight(t.ids[i])) Announce(*t.devices[i]);
}

// A background processor (is_capture_processor() false), like libttmem_tt_metal.so's.
class TtmemProcessor : public IGraphProcessor {
 public:
  bool is_capture_processor() const override { return false; }

  void track_allocate(const Buffer* b) override {
    Target t = ChipsOf(b->target());
    AnnounceOnFirstSight(t);
    ti::BufferAllocated({static_cast<ti::BufferType>(b->type()), b->id(), b->address(), b->size(),
                         GraphTracker::instance().get_hook() != nullptr},
                        t.chips());
  }
  void track_deallocate(const Buffer* b) override {
    ti::BufferDeallocated(b->id(), ChipsOf(b->target()).chips());
  }

  void track_program(Program* p, const AllocTarget* target) override {
    // A NO_DISPATCH capture's hook blocks the program (ttnn asks hook_program right after).
    if (const auto& hook = GraphTracker::instance().get_hook(); hook && hook->hook_program(p))
      return;
    Target t = ChipsOf(*target);
    AnnounceOnFirstSight(t);
    if (ti::Broken(ti::kBreakResidency)) {
      NaiveKernels(*p, t);
      return;
    }
    ti::ProgramLayout layout = LayoutOf(*p, target->arch());
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (size_t i = 0; i < t.count; ++i) resident_[t.ids[i]] = p->alive();
    }
    ti::ProgramDispatched(t.chips(), layout);
  }

  void track_deallocate_cb(const Device* d) override {
    if (ti::Broken(ti::kBreakResidency)) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = resident_.find(d->id());
      if (it == resident_.end() || !it->second.expired()) return;  // another program went
      resident_.erase(it);
    }
    uint32_t id = d->id();
    ti::ResidentReleased({&id, 1});
  }

  // The naive CB accounting (TTMEM_INTEGRATION_BREAK=residency): every program's CBs, summed.
  void track_allocate_cb(const CoreRange& range, uint64_t addr, uint64_t size, bool global,
                         const Device* d) override {
    if (!ti::Broken(ti::kBreakResidency) || global) return;
    ttmem_alloc_ex(d->id(), TTMEM_CB, (1ull << 60) | next_naive_.fetch_add(1), addr,
                   size * range.num_cores(), 0);
  }

  void track_function_start(std::string_view name) override {
    ti::FunctionStarted(name.data(), name.size());
  }
  void track_function_end() override { ti::FunctionEnded(); }

 private:
  // The dispatched program's footprint: its CB reservation by tt-metal's rule (the shells'
  // one definition, integrations/), kernel binaries. Computed once per program.
  ti::ProgramLayout LayoutOf(const Program& p, const ArchSpec& arch) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = layouts_.find(p.id());
    if (it != layouts_.end()) return it->second;
    std::vector<ti::CoreRect> ranges;
    ranges.reserve(p.cbs().size());
    for (const PlacedCb& cb : p.cbs())
      ranges.push_back({cb.range.x0, cb.range.y0, cb.range.x1, cb.range.y1});
    std::vector<ti::ProgramCb> cbs;
    for (size_t i = 0; i < ranges.size(); ++i)
      cbs.push_back({&ranges[i], 1, p.cbs()[i].size, p.cbs()[i].global});
    ti::ProgramLayout l{
        ti::CbReportedBytes(cbs.data(), cbs.size(), arch.l1_bank_base(), arch.dram_alignment),
        p.footprint().kernel_bytes};
    if (layouts_.size() >= 4096) layouts_.clear();
    layouts_[p.id()] = l;
    return l;
  }

  void NaiveKernels(const Program& p, const Target& t) {
    for (size_t i = 0; i < t.count; ++i)
      ttmem_alloc_ex(t.ids[i], TTMEM_KERNEL, (1ull << 59) | next_naive_.fetch_add(1), 0,
                     p.footprint().kernel_bytes, 0);
  }

  std::mutex mu_;                                           // guards resident_ and layouts_
  std::map<uint32_t, std::weak_ptr<const void>> resident_;  // chip -> resident program
  std::unordered_map<uint64_t, ti::ProgramLayout> layouts_;
  std::atomic<uint64_t> next_naive_{0};
};

// TTMEM_INTEGRATION_BREAK=view: what reporting the address-taking Buffer::create would do.
class AddressTakingReporter : public AllocationObserver {
 public:
  void BufferAllocated(const Buffer& b) override {
    if (b.owns_data()) return;
    ti::BufferAllocated(
        {static_cast<ti::BufferType>(b.type()), b.id(), b.address(), b.size(), false},
        ChipsOf(b.target()).chips());
  }
  void BufferDeallocated(const Buffer& b) override {
    if (!b.owns_data()) ti::BufferDeallocated(b.id(), ChipsOf(b.target()).chips());
  }
};

std::shared_ptr<TtmemProcessor>* g_processor = nullptr;  // leaked: threads outlive main
bool g_all_threads = false;

// Pushes the processor on this thread unless it is there already.
void InstallOnThisThread() {
  if (g_processor == nullptr) return;
  auto& tracker = GraphTracker::instance();
  for (const auto& p : tracker.get_processors())
    if (p == *g_processor) return;
  // Under any processor a capture already pushed: ttnn's end_graph_capture pops the top one.
  tracker.push_processor(*g_processor);
}

}  // namespace

void InstallTracking(TrackingMode mode) {
  if (ti::Broken(ti::kBreakShmDisabled)) {
    const char* v = std::getenv("TT_METAL_SHM_TRACKING_DISABLED");
    if (v != nullptr && std::strcmp(v, "1") == 0) return;
  }
  g_processor = new std::shared_ptr<TtmemProcessor>(std::make_shared<TtmemProcessor>());
  if (ti::Broken(ti::kBreakView))
    AllocationObservers::Add(std::make_shared<AddressTakingReporter>());
  InstallOnThisThread();
  ti::InstallTerminateSnapshot();
  g_all_threads = mode == TrackingMode::kAllThreads;
  if (g_all_threads) ti::SetThreadInstaller(&InstallOnThisThread);
}

// GraphTracker::clear() wipes this thread's processors: put ttmem's back. Interposed, as
// libttmem_tt_metal.so interposes tt-metal's: this definition in the executable wins over
// libttsim_graph.so's, which it calls.
void GraphTracker::clear() {
  using ClearFn = void (*)(GraphTracker*);
  static const auto real =
      reinterpret_cast<ClearFn>(dlsym(RTLD_NEXT, "_ZN5ttsim12GraphTracker5clearEv"));
  if (real != nullptr) real(this);
  if (g_all_threads && !ti::Broken(ti::kBreakClear)) InstallOnThisThread();
}

}  // namespace ttsim
