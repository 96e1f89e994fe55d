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
#include "umd/device/cluster_descriptor.hpp"

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

// The id tt-metal names the chip's statistics region with (Device's SharedMemoryStatsProvider,
// tt-metal a8c5af0f5a device.cpp): the cluster descriptor's chip unique id, else the device id.
// 0 is a real id (UMD's descriptors give chip 0 the id 0).
uint64_t ChipUniqueId(const tm::IDevice* d) {
  try {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    const auto* desc =
        tm::MetalContext::instance(tm::extract_context_id(d)).get_cluster().get_cluster_desc();
#pragma GCC diagnostic pop
    if (desc != nullptr) {
      const auto& ids = desc->get_chip_unique_ids();
      if (auto it = ids.find(d->id()); it != ids.end()) return it->second;
    }
  } catch (const std::exception&) {
  }
  return static_cast<uint64_t>(d->id());
}

// Where the chip sits (issue 28), as tt-metal's Cluster says (tt-metal a8c5af0f5a llrt/
// tt_cluster.hpp): its MMIO chip (get_associated_mmio_device: the chip itself when it has a PCIe
// device), that chip's PCIe device id (get_chips_with_mmio: logical chip -> PCIe device, what
// /dev/tenstorrent/N and TT_METAL_VISIBLE_DEVICES name), its board type and the cluster
// descriptor's board id. Left unknown (no flag) when the cluster cannot say.
void AddTopology(const tm::IDevice* d, ttmem_device_info* info) {
  try {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    const auto& cluster = tm::MetalContext::instance(tm::extract_context_id(d)).get_cluster();
#pragma GCC diagnostic pop
    const auto chip = static_cast<tt::ChipId>(d->id());
    const tt::ChipId mmio = cluster.get_associated_mmio_device(chip);
    const auto& pcie = cluster.get_chips_with_mmio();
    const auto it = pcie.find(mmio);
    if (it == pcie.end() || it->second < 0) return;
    info->pcie_id = static_cast<int32_t>(it->second);
    info->mmio_device = static_cast<uint32_t>(mmio);
    std::snprintf(info->board_type, sizeof info->board_type, "%s",
                  tt::board_type_to_string(cluster.get_board_type(chip)).c_str());
    if (const auto* desc = cluster.get_cluster_desc())
      info->board_id = desc->get_board_id_for_chip(chip);
    info->flags |= TTMEM_DEVICE_TOPOLOGY_VALID;
  } catch (const std::exception&) {
  }
}

// Announces a chip on first sight: arch, chip unique id, per-type capacity (the allocator's
// per-bank total x banks), bank count and the DRAM and L1 bank bases.
void Announce(const tm::IDevice* d) {
  ttmem_device_info info = TTMEM_DEVICE_INFO_INIT;
  info.device = static_cast<uint32_t>(d->id());
  std::snprintf(info.arch, sizeof info.arch, "%s", ArchName(d->arch()));
  info.unique_id = ChipUniqueId(d);
  info.flags |= TTMEM_DEVICE_UNIQUE_ID_VALID;
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
  AddTopology(d, &info);
  ttmem_device_announce(&info);
}

// The chips of a device, kept per IDevice: the device itself, or every chip of a MeshDevice
// (rule: never the MeshDevice's own id). Built (and the chips announced) on first sight.
struct ChipSet {
  int owner_id = -1;  // the IDevice's id() when the set was made (a reused address is caught)
  std::vector<uint32_t> ids;
  ti::Chips chips() const { return {ids.data(), ids.size()}; }
};

// The hot path asks for a device's chips at every buffer event: a lock-free table keyed by the
// IDevice's address answers (no thread_local: in a preloaded library each access would be a
// __tls_get_addr call); the first sight of a device, and a full table, take the mutex.
class Devices {
 public:
  const ChipSet& Of(const tm::IDevice* device) {
    const int id = static_cast<int>(device->id());
    const size_t h = Hash(device);
    for (size_t i = 0; i < kProbes; ++i) {
      const Slot& s = table_[(h + i) % kSlots];
      const tm::IDevice* key = s.key.load(std::memory_order_acquire);
      if (key == device) {
        const ChipSet* set = s.set.load(std::memory_order_acquire);
        if (set->owner_id == id) return *set;
        break;
      }
      if (key == nullptr) break;
    }
    return Slow(device, id, h);
  }

 private:
  static constexpr size_t kSlots = 256, kProbes = 8;
  struct Slot {
    std::atomic<const tm::IDevice*> key{nullptr};
    std::atomic<const ChipSet*> set{nullptr};
  };
  static size_t Hash(const tm::IDevice* d) {
    return static_cast<size_t>((reinterpret_cast<uintptr_t>(d) >> 4) * 0x9E3779B97F4A7C15ull >> 56);
  }

  const ChipSet& Slow(const tm::IDevice* device, int id, size_t h) {
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
    // Published for the lock-free path: the set before the key (a reader that sees the key sees
    // its set); a device at a reused address takes its old slot.
    for (size_t i = 0; i < kProbes; ++i) {
      Slot& s = table_[(h + i) % kSlots];
      const tm::IDevice* key = s.key.load(std::memory_order_relaxed);
      if (key == device || key == nullptr) {
        s.set.store(slot.get(), std::memory_order_release);
        s.key.store(device, std::memory_order_release);
        break;
      }
    }
    return *slot;
  }

  static void Add(ChipSet& set, const tm::IDevice* d) {
    const auto id = static_cast<uint32_t>(d->id());
    set.ids.push_back(id);
    if (dynamic_cast<const tm::distributed::MeshDevice*>(d) == nullptr && ti::FirstSight(id))
      Announce(d);
  }
  Slot table_[kSlots];
  std::mutex mu_;  // guards sets_, retired_ and the table's writers
  std::unordered_map<const tm::IDevice*, std::unique_ptr<ChipSet>> sets_;
  std::vector<std::unique_ptr<ChipSet>> retired_;
};

Devices& TheDevices() {
  static auto* d = new Devices();  // leaked: destructors at exit still free buffers
  return *d;
}

// TTMEM_INTEGRATION_BREAK=hook, read once at load (Load) so that the hot path tests a bool.
bool g_break_hook = false;

class TtmemProcessor final : public tm::IGraphProcessor {
 public:
  bool is_capture_processor() const override { return false; }

  // The hot path (docs/benchmarks.md): the chips from the lock-free table, one libttmem call per
  // chip. The processor exists only while tracking is on (Load), and libttmem checks again.
  void track_allocate(const tm::Buffer* b) override {
    const uint64_t address = b->address();
    // The hook matters only for what it blocked (address 0); the broken rule asks it always.
    const bool hook =
        (address == 0 || g_break_hook) && tm::GraphTracker::instance().get_hook() != nullptr;
    ti::BufferAllocated({static_cast<ti::BufferType>(static_cast<int>(b->buffer_type())),
                         static_cast<uint64_t>(b->unique_id()), address, b->size(), hook},
                        TheDevices().Of(b->device()).chips());
  }

  void track_deallocate(tm::Buffer* b) override {
    ti::BufferDeallocated(static_cast<uint64_t>(b->unique_id()),
                          TheDevices().Of(b->device()).chips());
  }

  // ttnn's launch of every program of a mesh workload, before hook_program and before the
  // enqueue lays its CBs out. The program becomes resident on the chips once its CBs are laid
  // out: at once for a program laid out before (a cached one), else at the first
  // track_allocate_cb of its layout. A program whose CBs are never laid out is never shown.
  void track_program(tm::Program* program, const tm::IDevice* device) override {
    if (!ttmem_enabled()) return;
    if (const auto& hook = tm::GraphTracker::instance().get_hook();
        hook && hook->hook_program(program))
      return;  // a NO_DISPATCH capture: not dispatched
    const tm::detail::ProgramImpl* impl = &program->impl();
    const ChipSet& set = TheDevices().Of(device);
    std::lock_guard<std::mutex> lock(mu_);
    if (ti::Broken(ti::kBreakResidency)) return;  // track_allocate_cb sums every program instead
    Dispatched& last = last_[device];
    // A program's kernel binaries are known once it is finalized (its first enqueue): until then
    // its layout is computed again at each dispatch. Its CBs may also have been resized since
    // (UpdateCircularBufferTotalSize, as ttnn does on program-cache hits): they are laid out
    // again at this enqueue, and so is the figure.
    const bool finalized = impl->is_finalized();
    const uint64_t shape = CbShape(*impl);
    auto it = layouts_.find(impl);
    if (it == layouts_.end() || it->second.alive.expired() || it->second.finalized != finalized ||
        it->second.cb_shape != shape) {
      if (layouts_.size() >= 4096) layouts_.clear();
      it = layouts_
               .insert_or_assign(
                   impl, Layout{impl->weak_from_this(), LayoutOf(*impl, *device), finalized, shape})
               .first;
    } else if (last.program == impl && !last.alive.expired() && last.laid_out) {
      return;  // the same program again: nothing changed
    }
    const bool laid_out = impl->get_num_cb_devices() != 0;
    last = {impl, it->second.alive, laid_out};
    for (uint32_t chip : set.ids) pending_.erase(chip);
    if (laid_out) {
      ti::ProgramDispatched(set.chips(), it->second.layout);
    } else {
      ti::ProgramDispatched(set.chips(), {0, it->second.layout.kernel_bytes});
      for (uint32_t chip : set.ids) pending_[chip] = {it->second.alive, it->second.layout};
    }
  }

  // ProgramImpl::allocate_circular_buffers, once per CB and chip of a layout: the program
  // dispatched last on the chip, laid out now, becomes resident.
  void track_allocate_cb(const tm::CoreRangeSet& ranges, uint64_t, uint64_t size, bool global,
                         const tm::IDevice* device) override {
    if (!ttmem_enabled()) return;
    const auto chip = static_cast<uint32_t>(device->id());
    if (ti::Broken(ti::kBreakResidency)) {  // the naive figure: every layout's CBs, summed
      if (!global)
        ttmem_alloc_ex(chip, TTMEM_CB, (1ull << 60) | naive_.fetch_add(1), 0,
                       size * ranges.num_cores(), 0);
      return;
    }
    // Under mu_, as track_program publishes: another thread's dispatch on the chip comes wholly
    // before or after this one. `program` is declared first so that it is released after the
    // lock: were it the last owner, ~ProgramImpl would call track_deallocate_cb, which locks mu_.
    std::shared_ptr<const tm::detail::ProgramImpl> program;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pending_.find(chip);
    if (it == pending_.end()) return;
    program = it->second.alive.lock();
    if (program == nullptr || program->get_num_cb_devices() == 0) return;
    const ti::ProgramLayout layout = it->second.layout;
    pending_.erase(it);
    for (auto& [dev, last] : last_)
      if (last.program == program.get()) last.laid_out = true;
    ti::ProgramDispatched({&chip, 1}, layout);
  }

  // ProgramImpl::deallocate_circular_buffers, from ~ProgramImpl (the program is expired by then):
  // a chip whose resident program is gone holds nothing any more.
  void track_deallocate_cb(const tm::IDevice* device) override {
    if (!ttmem_enabled()) return;
    // Under mu_, as track_program publishes (a release never wipes a dispatch it raced with).
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = layouts_.begin(); it != layouts_.end();)
      it = it->second.alive.expired() ? layouts_.erase(it) : std::next(it);
    for (auto it = pending_.begin(); it != pending_.end();)
      it = it->second.alive.expired() ? pending_.erase(it) : std::next(it);
    for (auto& [dev, last] : last_)
      if (last.program != nullptr && last.alive.expired()) {
        last = {};
        ti::ResidentReleased(TheDevices().Of(dev).chips());
      }
    (void)device;  // tt-metal calls it per device of the program; the expiry says which
  }

  void track_function_start(std::string_view name, std::span<tm::TrackedArgument>) override {
    ti::FunctionStarted(name.data(), name.size());
  }
  void track_function_end() override { ti::FunctionEnded(); }
  void track_function_end(const std::any&) override { ti::FunctionEnded(); }

 private:
  // The program's footprint on each chip: its CB reservation by tt-metal's rule
  // (ti::CbReportedBytes: every CB's core ranges and size, from the L1 base of the device it is
  // dispatched on, aligned as its allocator aligns DRAM) and its kernel binaries: for each
  // programmable core type, the kernel-text slot every core of that type running the program
  // holds in the kernel-config ring (ProgramConfig::kernel_text_size, set when the program is
  // finalized) times those cores (docs/tt-metal.md).
  static ti::ProgramLayout LayoutOf(const tm::detail::ProgramImpl& impl,
                                    const tm::IDevice& device) {
    std::vector<ti::CoreRect> rects;
    std::vector<std::pair<size_t, size_t>> spans;  // per CB: [first, count) in rects
    const auto cbs = impl.circular_buffers();
    for (const auto& cb : cbs) {
      const size_t first = rects.size();
      for (const tm::CoreRange& r : cb->core_ranges().ranges())
        rects.push_back(
            {static_cast<uint32_t>(r.start_coord.x), static_cast<uint32_t>(r.start_coord.y),
             static_cast<uint32_t>(r.end_coord.x), static_cast<uint32_t>(r.end_coord.y)});
      spans.emplace_back(first, rects.size() - first);
    }
    std::vector<ti::ProgramCb> program_cbs;
    program_cbs.reserve(cbs.size());
    for (size_t i = 0; i < cbs.size(); ++i)
      program_cbs.push_back({rects.data() + spans[i].first, spans[i].second, cbs[i]->size(),
                             cbs[i]->globally_allocated()});
    const auto& allocator = device.allocator();
    ti::ProgramLayout l;
    l.cb_bytes = ti::CbReportedBytes(program_cbs.data(), program_cbs.size(),
                                     allocator->get_base_allocator_addr(tm::HalMemType::L1),
                                     allocator->get_alignment(tm::BufferType::DRAM));
    if (impl.is_finalized()) {
      const auto cores = impl.logical_cores();  // per programmable core type
      for (uint32_t i = 0; i < cores.size(); ++i)
        l.kernel_bytes += uint64_t{impl.get_program_config(i).kernel_text_size} * cores[i].size();
    }
    return l;
  }
  // What a program's CB layout depends on, cheaply: each CB's size and kind, in order.
  static uint64_t CbShape(const tm::detail::ProgramImpl& impl) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (const auto& cb : impl.circular_buffers())
      h = (h ^ ((uint64_t{cb->size()} << 1) | (cb->globally_allocated() ? 1u : 0u))) *
          0x100000001b3ull;
    return h;
  }
  struct Layout {
    std::weak_ptr<const tm::detail::ProgramImpl> alive;
    ti::ProgramLayout layout;
    bool finalized = false;
    uint64_t cb_shape = 0;
  };
  struct Dispatched {
    const tm::detail::ProgramImpl* program = nullptr;
    std::weak_ptr<const tm::detail::ProgramImpl> alive;
    bool laid_out = false;
  };
  std::mutex mu_;  // guards layouts_, last_ and pending_
  std::unordered_map<const tm::detail::ProgramImpl*, Layout> layouts_;
  std::unordered_map<const tm::IDevice*, Dispatched> last_;
  std::unordered_map<uint32_t, Layout> pending_;  // chip -> dispatched, not laid out yet
  std::atomic<uint64_t> naive_{0};
};

std::shared_ptr<TtmemProcessor>& Processor() {
  static auto* p = new std::shared_ptr<TtmemProcessor>(std::make_shared<TtmemProcessor>());
  return *p;
}

// Which shape of GraphTracker this tt-metal has. Since PR #44668 the processor list is a static
// thread_local member (GraphTracker::processors, an exported TLS symbol): one list per thread,
// so every thread needs the processor, and a thread's list is its own to read. Before it, the
// list is one member vector of the singleton, shared by all threads and written without a lock
// (push_processor, pop_processor, clear): the processor pushed once is seen on every thread, and
// reading the list while another thread pushes (a graph capture starting) would be a data race.
// So on that shape nothing is done on other threads.
bool ProcessorsPerThread() {
  return dlsym(RTLD_DEFAULT, "_ZN2tt8tt_metal12GraphTracker10processorsE") != nullptr;
}

bool PerThread() {
  static const bool per_thread = ProcessorsPerThread();
  return per_thread;
}

// Set once the processor is in tt-metal's one shared list (the older shape); cleared by clear().
std::atomic<bool> g_in_shared_list{false};

// Pushes the processor on this thread unless it is there (at the bottom, under any capture
// processor: ttnn's end_graph_capture pops the top one). With one shared list, only the first
// call (and the first after clear()) reads or writes it: other threads never touch it.
void AttachThisThread() {
  if (!ttmem_enabled()) return;
  const bool shared = !PerThread();
  if (shared && g_in_shared_list.load(std::memory_order_acquire)) return;
  auto& tracker = tm::GraphTracker::instance();
  bool present = false;
  for (const auto& p : tracker.get_processors()) present = present || p == Processor();
  if (!present) tracker.push_processor(Processor());
  if (shared) g_in_shared_list.store(true, std::memory_order_release);
}

__attribute__((constructor)) void Load() {
  if (!ttmem_enabled()) return;
  // Loaded into a process without tt-metal yet (nothing to attach to): attach_thread later.
  if (dlsym(RTLD_DEFAULT, "_ZN2tt8tt_metal12GraphTracker8instanceEv") == nullptr) return;
  if (ti::Broken(ti::kBreakShmDisabled)) {
    const char* v = std::getenv("TT_METAL_SHM_TRACKING_DISABLED");
    if (v != nullptr && v[0] == '1' && v[1] == '\0') return;
  }
  g_break_hook = ti::Broken(ti::kBreakHook);
  AttachThisThread();
  if (PerThread()) ti::SetThreadInstaller(&AttachThisThread);
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
  if (ti::Broken(ti::kBreakClear)) return;
  g_in_shared_list.store(false, std::memory_order_release);  // the shared list is empty now
  AttachThisThread();
}
