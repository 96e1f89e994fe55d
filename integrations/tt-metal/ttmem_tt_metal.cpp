// ttmem_tt_metal.cpp — libttmem_tt_metal.so: ttmem's background GraphTracker processor for stock
// tt-metal, through the public graph_tracking.hpp; no patch to tt-metal. The thin typed shell over
// the processor rules (integrations/ttmem_tracking.h), the same rules the simulator's processor
// runs in every ttmem test. Built against the tt-metal tree TT_METAL_HOME names
// (integrations/tt-metal/CMakeLists.txt); commits and modes in docs/tt-metal.md.
//
// Enabled with TT_ALLOC_TRACKING_ENABLED=1 and one of:
//   LD_PRELOAD=libttmem_tt_metal.so   every thread (thread start wrapped, thread_start.cc) and
//                                     back after GraphTracker::clear() (interposed below);
//   import ttmem.tt_metal (Python)    the importing thread and Python threads started after;
//   ttmem_tt_metal_attach_thread()    (C ABI) the calling thread.
#include <dlfcn.h>

#include <any>
#include <array>
#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <tt-metalium/allocator.hpp>
#include <tt-metalium/buffer.hpp>
#include <tt-metalium/device.hpp>
#include <tt-metalium/graph_tracking.hpp>
#include <tt-metalium/mesh_device.hpp>
#include <tt-metalium/program.hpp>

#include "impl/buffers/circular_buffer.hpp"
#include "impl/context/context_types.hpp"
#include "impl/context/metal_context.hpp"
#include "impl/program/program_impl.hpp"
#include "llrt/tt_cluster.hpp"
#include "ttmem/ttmem.h"
#include "ttmem_tracking.h"

namespace {

namespace tm = ::tt::tt_metal;
namespace ti = ::ttmem::integration;

const char* ArchName(tt::ARCH arch) {
  switch (arch) {
    case tt::ARCH::WORMHOLE_B0:
      return "wormhole_b0";
    case tt::ARCH::BLACKHOLE:
      return "blackhole";
    case tt::ARCH::QUASAR:
      return "quasar";
    default:
      return "unknown";
  }
}

// Announces a chip on first sight: arch, chip unique id, per-type capacity (the allocator's
// per-bank total x banks), bank count and the DRAM and L1 bank bases.
void Announce(const tm::IDevice* d) {
  ttmem_device_info info = TTMEM_DEVICE_INFO_INIT;
  info.device = static_cast<uint32_t>(d->id());
  std::snprintf(info.arch, sizeof info.arch, "%s", ArchName(d->arch()));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  const auto& ids =
      tm::MetalContext::instance(tm::extract_context_id(d)).get_cluster().get_unique_chip_ids();
#pragma GCC diagnostic pop
  if (auto it = ids.find(d->id()); it != ids.end()) info.unique_id = it->second;
  const auto& allocator = d->allocator();
  struct Kind {
    tm::BufferType type;
    ttmem_mem_type ttmem;
  };
  for (Kind k :
       {Kind{tm::BufferType::DRAM, TTMEM_DRAM}, Kind{tm::BufferType::L1, TTMEM_L1},
        Kind{tm::BufferType::L1_SMALL, TTMEM_L1_SMALL}, Kind{tm::BufferType::TRACE, TTMEM_TRACE}}) {
    const uint32_t banks = allocator->get_num_banks(k.type);
    info.capacity_bytes[k.ttmem] =
        static_cast<uint64_t>(allocator->get_statistics(k.type).total_allocatable_size_bytes) *
        banks;
    info.bank_count[k.ttmem] = banks;
  }
  info.capacity_bytes[TTMEM_CB] = info.capacity_bytes[TTMEM_L1];  // CBs share the L1 banks
  info.bank_base[TTMEM_DRAM] = allocator->get_base_allocator_addr(tm::HalMemType::DRAM);
  info.bank_base[TTMEM_L1] = allocator->get_base_allocator_addr(tm::HalMemType::L1);
  info.bank_count[TTMEM_L1_SMALL] = info.bank_count[TTMEM_TRACE] = 0;
  info.num_cores = allocator->get_num_banks(tm::BufferType::L1);
  ttmem_device_announce(&info);
}

// The chips of a device, kept per IDevice: the device itself, or every chip of a MeshDevice
// (rule: never the MeshDevice's own id). Built (and the chips announced) on first sight.
struct ChipSet {
  int owner_id = -1;  // the IDevice's id() when the set was made (a reused address is caught)
  std::vector<uint32_t> ids;
  ti::Chips chips() const { return {ids.data(), ids.size()}; }
};

class Devices {
 public:
  const ChipSet& Of(const tm::IDevice* device) {
    thread_local const tm::IDevice* last = nullptr;
    thread_local const ChipSet* last_set = nullptr;
    const int id = static_cast<int>(device->id());
    if (device == last && last_set->owner_id == id) return *last_set;
    std::lock_guard<std::mutex> lock(mu_);
    auto& slot = sets_[device];
    if (!slot || slot->owner_id != id) {
      // Sets are never freed (a thread may still hold one): a device at a reused address gets
      // a new one; there are as many as devices ever opened.
      if (slot) retired_.push_back(std::move(slot));
      slot = std::make_unique<ChipSet>();
      slot->owner_id = id;
      const auto* mesh = dynamic_cast<const tm::distributed::MeshDevice*>(device);
      if (mesh != nullptr && !ti::Broken(ti::kBreakMesh)) {
        for (const tm::IDevice* d : mesh->get_devices()) Add(*slot, d);
      } else {
        Add(*slot, device);
      }
    }
    last = device;
    last_set = slot.get();
    return *slot;
  }

 private:
  static void Add(ChipSet& set, const tm::IDevice* d) {
    const auto id = static_cast<uint32_t>(d->id());
    set.ids.push_back(id);
    if (dynamic_cast<const tm::distributed::MeshDevice*>(d) == nullptr && ti::FirstSight(id))
      Announce(d);
  }
  std::mutex mu_;
  std::unordered_map<const tm::IDevice*, std::unique_ptr<ChipSet>> sets_;
  std::vector<std::unique_ptr<ChipSet>> retired_;
};

Devices& TheDevices() {
  static auto* d = new Devices();  // leaked: destructors at exit still free buffers
  return *d;
}

class TtmemProcessor final : public tm::IGraphProcessor {
 public:
  bool is_capture_processor() const override { return false; }

  void track_allocate(const tm::Buffer* b) override {
    if (!ttmem_enabled()) return;
    ti::BufferAllocated({static_cast<ti::BufferType>(static_cast<int>(b->buffer_type())),
                         static_cast<uint64_t>(b->unique_id()), b->address(), b->size(),
                         tm::GraphTracker::instance().get_hook() != nullptr},
                        TheDevices().Of(b->device()).chips());
  }

  void track_deallocate(tm::Buffer* b) override {
    if (!ttmem_enabled()) return;
    ti::BufferDeallocated(static_cast<uint64_t>(b->unique_id()),
                          TheDevices().Of(b->device()).chips());
  }

  // ttnn's launch of every program of a mesh workload, before hook_program.
  void track_program(tm::Program* program, const tm::IDevice* device) override {
    if (!ttmem_enabled()) return;
    if (const auto& hook = tm::GraphTracker::instance().get_hook();
        hook && hook->hook_program(program))
      return;  // a NO_DISPATCH capture: not dispatched
    const tm::detail::ProgramImpl* impl = &program->impl();
    const ChipSet& set = TheDevices().Of(device);
    std::lock_guard<std::mutex> lock(mu_);
    Dispatched& last = last_[device];
    if (last.program == impl) return;  // the same program again: a comparison
    auto it = layouts_.find(impl);
    if (it == layouts_.end() || it->second.alive.expired()) {
      if (layouts_.size() >= 4096) layouts_.clear();
      it = layouts_.insert_or_assign(impl, Layout{impl->weak_from_this(), LayoutOf(*impl)}).first;
    }
    last = {impl, it->second.alive};
    ti::ProgramDispatched(set.chips(), it->second.layout);
  }

  // ProgramImpl::deallocate_circular_buffers, from ~ProgramImpl (the program is expired by then)
  // or when its CBs are laid out again: the layout is computed again at the next dispatch.
  void track_deallocate_cb(const tm::IDevice* device) override {
    if (!ttmem_enabled()) return;
    std::vector<const tm::IDevice*> gone;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = layouts_.begin(); it != layouts_.end();)
        it = it->second.alive.expired() ? layouts_.erase(it) : std::next(it);
      for (auto& [dev, last] : last_)
        if (last.program != nullptr && last.alive.expired()) {
          last = {};
          gone.push_back(dev);
        }
    }
    (void)device;  // tt-metal calls it per device of the program; the expiry says which
    for (const tm::IDevice* d : gone) ti::ResidentReleased(TheDevices().Of(d).chips());
  }

  void track_function_start(std::string_view name, std::span<tm::TrackedArgument>) override {
    ti::FunctionStarted(name.data(), name.size());
  }
  void track_function_end() override { ti::FunctionEnded(); }
  void track_function_end(const std::any&) override { ti::FunctionEnded(); }

 private:
  // The program's CBs per core: tt-metal's CircularBufferAllocator places a program's CBs end to
  // end on each core, so the union per core is the sum of the sizes of the CBs on it. Globally
  // allocated CBs live in L1 buffers (counted as L1). Kernel binaries: not counted (docs).
  static ti::ProgramLayout LayoutOf(const tm::detail::ProgramImpl& impl) {
    ti::ProgramLayout l;
    for (const auto& cb : impl.circular_buffers())
      if (!cb->globally_allocated())
        l.cb_bytes += static_cast<uint64_t>(cb->size()) * cb->core_ranges().num_cores();
    return l;
  }
  struct Layout {
    std::weak_ptr<const tm::detail::ProgramImpl> alive;
    ti::ProgramLayout layout;
  };
  struct Dispatched {
    const tm::detail::ProgramImpl* program = nullptr;
    std::weak_ptr<const tm::detail::ProgramImpl> alive;
  };
  std::mutex mu_;
  std::unordered_map<const tm::detail::ProgramImpl*, Layout> layouts_;
  std::unordered_map<const tm::IDevice*, Dispatched> last_;
};

std::shared_ptr<TtmemProcessor>& Processor() {
  static auto* p = new std::shared_ptr<TtmemProcessor>(std::make_shared<TtmemProcessor>());
  return *p;
}

// Pushes the processor on this thread unless it is there (at the bottom, under any capture
// processor: ttnn's end_graph_capture pops the top one).
void AttachThisThread() {
  if (!ttmem_enabled()) return;
  auto& tracker = tm::GraphTracker::instance();
  for (const auto& p : tracker.get_processors())
    if (p == Processor()) return;
  tracker.push_processor(Processor());
}

__attribute__((constructor)) void Load() {
  if (!ttmem_enabled()) return;
  // Loaded into a process without tt-metal yet (nothing to attach to): attach_thread later.
  if (dlsym(RTLD_DEFAULT, "_ZN2tt8tt_metal12GraphTracker8instanceEv") == nullptr) return;
  if (ti::Broken(ti::kBreakShmDisabled)) {
    const char* v = std::getenv("TT_METAL_SHM_TRACKING_DISABLED");
    if (v != nullptr && v[0] == '1' && v[1] == '\0') return;
  }
  AttachThisThread();
  ti::SetThreadInstaller(&AttachThisThread);
  ti::InstallTerminateSnapshot();
}

}  // namespace

extern "C" {
// The calling thread gets ttmem's processor (threads tt-metal or the application start before
// the library was loaded, or in a process where it was not preloaded).
__attribute__((visibility("default"))) void ttmem_tt_metal_attach_thread(void) {
  AttachThisThread();
}
}

// GraphTracker::clear() wipes the calling thread's processors: put ttmem's back. Interposes
// tt-metal's (libtt_metal.so exports its symbols) when this library comes first in the lookup
// order: LD_PRELOAD, or linked before libtt_metal.so.
void tt::tt_metal::GraphTracker::clear() {
  using ClearFn = void (*)(GraphTracker*);
  static const auto real =
      reinterpret_cast<ClearFn>(dlsym(RTLD_NEXT, "_ZN2tt8tt_metal12GraphTracker5clearEv"));
  if (real != nullptr) real(this);
  if (!ti::Broken(ti::kBreakClear)) AttachThisThread();
}
