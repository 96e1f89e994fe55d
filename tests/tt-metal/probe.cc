// probe.cc — a small tt-metal program, written against tt-metal's public API (plus the two impl
// headers ttnn itself uses for program dispatch and a device's CB figure), that runs one case of
// allocations on mock devices and stops at checkpoints. At each checkpoint it prints one line,
//   CHECKPOINT <label> <json>
// with what tt-metal's own allocators hold per chip and type (per bank x banks), tt-metal's CB
// figure per chip (Device::get_total_cb_allocated), and what the probe knows it holds (exact
// bytes, and the allocator's figure by the stated rounding), then waits for a line on stdin.
// The driver (tests/tt_metal_run_test.cc) compares those figures with ttmem's status and with
// tt-metal's own statistics regions. Built against the tree TT_METAL_HOME names by
// scripts/tt-metal-build.sh; never part of ttmem's CMake build.
//
// Usage: ttmem_tt_metal_probe CASE ROWS COLS
//   CASE: buffers mesh threads clear hook cb stale cache kernel ops oom kill race
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <any>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <tt-metalium/allocator.hpp>
#include <tt-metalium/buffer.hpp>
#include <tt-metalium/circular_buffer_config.hpp>
#include <tt-metalium/graph_tracking.hpp>
#include <tt-metalium/host_api.hpp>
#include <tt-metalium/mesh_buffer.hpp>
#include <tt-metalium/mesh_device.hpp>
#include <tt-metalium/program.hpp>
#include <tt-metalium/tt_metal.hpp>

#include "impl/device/device_impl.hpp"
#include "impl/program/program_impl.hpp"

namespace mt = tt::tt_metal;
namespace dist = tt::tt_metal::distributed;

// ttnn defines this template (graph_serialization.hpp); the probe passes ints as op arguments.
template <>
std::string mt::serialize_tracked_arg<int>(const std::any& a) {
  return std::to_string(std::any_cast<std::reference_wrapper<int>>(a).get());
}

namespace {

constexpr mt::BufferType kTypes[] = {mt::BufferType::DRAM, mt::BufferType::L1,
                                     mt::BufferType::L1_SMALL, mt::BufferType::TRACE};
const char* TypeKey(mt::BufferType t) {
  switch (t) {
    case mt::BufferType::DRAM:
      return "dram";
    case mt::BufferType::L1:
      return "l1";
    case mt::BufferType::L1_SMALL:
      return "l1_small";
    case mt::BufferType::TRACE:
      return "trace";
    default:
      return "other";
  }
}

uint64_t AlignUp(uint64_t v, uint64_t a) {
  return a == 0 ? v : (v + a - 1) / a * a;
}

// The rounding of tt-metal's interleaved allocation, stated: a buffer of `size` bytes in pages
// of `page` bytes takes ceil(pages / banks) pages in every bank, each page aligned to the
// allocator's alignment for the type; the allocator's figure is that per bank, times the banks.
uint64_t RoundedBytes(const mt::Allocator& a, mt::BufferType t, uint64_t size, uint64_t page) {
  const uint64_t banks = a.get_num_banks(t);
  const uint64_t pages = (size + page - 1) / page;
  const uint64_t per_bank = (pages + banks - 1) / banks * AlignUp(page, a.get_alignment(t));
  return per_bank * banks;
}

struct Figures {
  std::map<std::string, uint64_t> exact, rounded;
};

class Probe {
 public:
  Probe(int rows, int cols) {
    mesh_ = dist::MeshDevice::create(dist::MeshDeviceConfig(dist::MeshShape(rows, cols)),
                                     /*l1_small_size=*/64 * 1024, /*trace_region_size=*/1 << 20);
    for (mt::IDevice* d : mesh_->get_devices()) chips_.push_back(d);
  }
  ~Probe() { Close(); }
  void Close() {
    if (mesh_) mesh_->close();
    mesh_.reset();
  }

  dist::MeshDevice* mesh() { return mesh_.get(); }
  const std::vector<mt::IDevice*>& chips() const { return chips_; }

  // A single-device buffer on chip `i`, remembered with its exact and rounded figures.
  std::shared_ptr<mt::Buffer> Make(size_t i, mt::BufferType t, uint64_t size, uint64_t page) {
    auto b = mt::CreateBuffer(mt::InterleavedBufferConfig{chips_[i], size, page, t});
    std::lock_guard<std::mutex> lock(mu_);
    Figures& f = held_[chips_[i]->id()];
    f.exact[TypeKey(t)] += size;
    f.rounded[TypeKey(t)] += RoundedBytes(*chips_[i]->allocator(), t, size, page);
    return b;
  }
  // A height-sharded buffer on chip `i` (L1_SMALL takes only these): one page of `page` bytes
  // (32 x 32 two-byte elements) on each of the `cores` first cores of row-major 8-wide rows.
  // The allocator gives every bank the address range of one shard, so its figure is a shard per
  // bank times the banks.
  std::shared_ptr<mt::Buffer> MakeSharded(size_t i, mt::BufferType t, uint32_t cores) {
    constexpr uint64_t page = 2048;
    const mt::CoreRangeSet grid(mt::CoreRange({0, 0}, {7, cores / 8 - 1}));
    auto b = mt::CreateBuffer(mt::ShardedBufferConfig{
        .device = chips_[i],
        .size = cores * page,
        .page_size = page,
        .buffer_type = t,
        .buffer_layout = mt::TensorMemoryLayout::HEIGHT_SHARDED,
        .shard_parameters = mt::ShardSpecBuffer(grid, {32, 32}, mt::ShardOrientation::ROW_MAJOR,
                                                {32, 32}, {cores, 1})});
    std::lock_guard<std::mutex> lock(mu_);
    Figures& f = held_[chips_[i]->id()];
    const mt::Allocator& a = *chips_[i]->allocator();
    f.exact[TypeKey(t)] += b->size();
    f.rounded[TypeKey(t)] += AlignUp(page, a.get_alignment(t)) * a.get_num_banks(t);
    sharded_.insert(b.get());
    return b;
  }
  void Drop(size_t i, std::shared_ptr<mt::Buffer>& b, uint64_t page) {
    std::lock_guard<std::mutex> lock(mu_);
    Figures& f = held_[chips_[i]->id()];
    const mt::BufferType t = b->buffer_type();
    f.exact[TypeKey(t)] -= b->size();
    const mt::Allocator& a = *chips_[i]->allocator();
    f.rounded[TypeKey(t)] -= sharded_.erase(b.get()) != 0
                                 ? AlignUp(2048, a.get_alignment(t)) * a.get_num_banks(t)
                                 : RoundedBytes(a, t, b->size(), page);
    b.reset();
  }
  // A mesh buffer: the same device-local size on every chip (replicated: `size`; sharded: the
  // shard), allocated once in the MeshDevice's allocator.
  std::shared_ptr<dist::MeshBuffer> MakeMesh(const dist::MeshBufferConfig& cfg, mt::BufferType t,
                                             uint64_t page) {
    auto b = dist::MeshBuffer::create(
        cfg, dist::DeviceLocalBufferConfig{.page_size = page, .buffer_type = t}, mesh_.get());
    std::lock_guard<std::mutex> lock(mu_);
    for (mt::IDevice* d : chips_) {
      Figures& f = held_[d->id()];
      f.exact[TypeKey(t)] += b->device_local_size();
      f.rounded[TypeKey(t)] += RoundedBytes(*mesh_->allocator(), t, b->device_local_size(), page);
    }
    return b;
  }
  void DropMesh(std::shared_ptr<dist::MeshBuffer>& b, mt::BufferType t, uint64_t page) {
    std::lock_guard<std::mutex> lock(mu_);
    for (mt::IDevice* d : chips_) {
      Figures& f = held_[d->id()];
      f.exact[TypeKey(t)] -= b->device_local_size();
      f.rounded[TypeKey(t)] -= RoundedBytes(*mesh_->allocator(), t, b->device_local_size(), page);
    }
    b.reset();
  }
  // A capture estimate: allocated under a blocking hook, no memory.
  void ExpectCapture(size_t i, mt::BufferType t, uint64_t size) {
    std::lock_guard<std::mutex> lock(mu_);
    held_[chips_[i]->id()].exact[std::string("capture_") + TypeKey(t)] += size;
  }
  void ForgetCapture(size_t i, mt::BufferType t, uint64_t size) {
    std::lock_guard<std::mutex> lock(mu_);
    held_[chips_[i]->id()].exact[std::string("capture_") + TypeKey(t)] -= size;
  }
  // The CB figure ttmem should show: the dispatched program's reservation, per core the merged
  // regions tt-metal reports for it (get_cb_l1_regions_per_core), summed over cores.
  void ExpectResidentCb(const mt::Program* p, const mt::IDevice* only = nullptr) {
    uint64_t total = 0;
    if (p != nullptr) {
      auto regions = p->impl().get_cb_l1_regions_per_core(0, p->impl().get_num_cb_devices());
      for (auto& [core, rs] : regions) total += MergedBytes(rs);
    }
    std::lock_guard<std::mutex> lock(mu_);
    for (mt::IDevice* d : chips_)
      if (only == nullptr || d == only) held_[d->id()].exact["cb"] = total;
  }
  void ExpectKernel(const mt::IDevice* d, uint64_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    held_[d->id()].exact["kernel"] = bytes;
  }

  // Prints the checkpoint and waits for the driver.
  void Checkpoint(const std::string& label) {
    std::ostringstream o;
    o << "{\"pid\":" << ::getpid() << ",\"chips\":[";
    bool first = true;
    for (mt::IDevice* d : chips_) {
      o << (first ? "" : ",") << "{\"id\":" << d->id() << ",\"allocator\":{";
      first = false;
      bool f2 = true;
      for (mt::BufferType t : kTypes) {
        // The chip's own allocator plus the mesh's (mesh buffers live there).
        uint64_t bytes = Allocated(*d->allocator(), t);
        if (mesh_ && mesh_->allocator().get() != d->allocator().get())
          bytes += Allocated(*mesh_->allocator(), t);
        o << (f2 ? "" : ",") << "\"" << TypeKey(t) << "\":" << bytes;
        f2 = false;
      }
      const auto* dev = dynamic_cast<const mt::Device*>(d);
      o << "},\"tt_metal_cb\":" << (dev ? dev->get_total_cb_allocated() : 0);
      std::lock_guard<std::mutex> lock(mu_);
      const Figures& h = held_[d->id()];
      o << ",\"exact\":{";
      f2 = true;
      for (const auto& [k, v] : h.exact) {
        o << (f2 ? "" : ",") << "\"" << k << "\":" << v;
        f2 = false;
      }
      o << "},\"rounded\":{";
      f2 = true;
      for (const auto& [k, v] : h.rounded) {
        o << (f2 ? "" : ",") << "\"" << k << "\":" << v;
        f2 = false;
      }
      o << "}}";
    }
    o << "]}";
    std::cout << "CHECKPOINT " << label << " " << o.str() << std::endl;
    std::string line;
    if (!std::getline(std::cin, line)) std::exit(3);  // the driver went away
  }

 private:
  static uint64_t Allocated(const mt::Allocator& a, mt::BufferType t) {
    return static_cast<uint64_t>(a.get_statistics(t).total_allocated_bytes) * a.get_num_banks(t);
  }
  static uint64_t MergedBytes(std::vector<std::pair<uint64_t, uint64_t>> rs) {
    std::sort(rs.begin(), rs.end());
    uint64_t total = 0, start = 0, end = 0;
    bool open = false;
    for (auto [s, e] : rs) {
      if (!open || s > end) {
        if (open) total += end - start;
        start = s;
        end = e;
        open = true;
      } else {
        end = std::max(end, e);
      }
    }
    if (open) total += end - start;
    return total;
  }

  std::shared_ptr<dist::MeshDevice> mesh_;
  std::vector<mt::IDevice*> chips_;
  std::mutex mu_;
  std::map<int, Figures> held_;
  std::set<const mt::Buffer*> sharded_;
};

// ttnn's launch of a program: track_program with the device it runs on, then (dispatch) the CB
// layout. In mock mode with slow dispatch nothing lays the CBs out, so the probe does what the
// enqueue does on hardware.
void Dispatch(mt::Program& p, mt::IDevice* device, bool lay_out = true) {
  mt::GraphTracker::instance().track_program(&p, device);
  if (lay_out) p.impl().allocate_circular_buffers(device);
}

mt::CircularBufferConfig Cb(uint32_t size, uint8_t index, uint32_t page = 2048) {
  return mt::CircularBufferConfig(size, {{index, tt::DataFormat::Float16_b}})
      .set_page_size(index, page);
}

// The corners of tt-metal's CB placement: c on C = (1,1)-(2,2) meets A and B, whose regions
// already end above its address, so tt-metal marks it on C only; a globally allocated CB (in
// `l1`) makes an allocator of its own range D, which a local CB on E = (5,5)-(6,6) then marks
// too; E's second CB starts at the next aligned address after 4,800 B (a gap).
mt::Program TrickyCbs(const mt::Buffer& l1) {
  mt::Program p = mt::CreateProgram();
  mt::CreateCircularBuffer(p, mt::CoreRange({0, 0}, {1, 1}), Cb(16384, 0));
  mt::CreateCircularBuffer(p, mt::CoreRange({2, 2}, {3, 3}), Cb(4096, 1));
  mt::CreateCircularBuffer(p, mt::CoreRange({1, 1}, {2, 2}), Cb(8192, 2));
  mt::CreateCircularBuffer(
      p, mt::CoreRange({4, 4}, {5, 5}),
      mt::CircularBufferConfig(1024, {{3, tt::DataFormat::Float16_b}}, l1).set_page_size(3, 1024));
  mt::CreateCircularBuffer(p, mt::CoreRange({5, 5}, {6, 6}), Cb(4800, 4, 4800));
  mt::CreateCircularBuffer(p, mt::CoreRange({5, 5}, {6, 6}), Cb(2400, 5, 2400));
  return p;
}

// CBs on overlapping, unequal core ranges: a on (0,0)-(1,1), b on (1,1)-(2,2), c on (0,0)-(1,1).
mt::Program OverlappingCbs(uint32_t scale = 1) {
  mt::Program p = mt::CreateProgram();
  mt::CreateCircularBuffer(p, mt::CoreRange({0, 0}, {1, 1}), Cb(16384 * scale, 0));
  mt::CreateCircularBuffer(p, mt::CoreRange({1, 1}, {2, 2}), Cb(8192 * scale, 1));
  mt::CreateCircularBuffer(p, mt::CoreRange({0, 0}, {1, 1}), Cb(4096 * scale, 2));
  return p;
}
// CBs on disjoint core ranges, one of them a set of two ranges.
mt::Program DisjointCbs() {
  mt::Program p = mt::CreateProgram();
  mt::CreateCircularBuffer(p, mt::CoreRange({0, 0}, {0, 1}), Cb(12288, 0));
  mt::CreateCircularBuffer(
      p, mt::CoreRangeSet(std::vector<mt::CoreRange>{{{3, 3}, {4, 4}}, {{6, 0}, {6, 0}}}),
      Cb(6144, 1));
  return p;
}

// Blocks every allocation, as ttnn's NO_DISPATCH graph capture does.
class BlockingHook : public mt::IGraphHooks {
 public:
  bool hook_allocate(const mt::Buffer*) override { return true; }
  bool hook_deallocate(mt::Buffer*) override { return true; }
  bool hook_program(mt::Program*) override { return true; }
  bool hook_write_to_device(const mt::Buffer*) override { return true; }
  bool hook_read_from_device(mt::Buffer*) override { return true; }
  bool hook_read_from_device(const dist::MeshBuffer*) override { return true; }
  bool hook_write_to_device(const dist::MeshBuffer*) override { return true; }
};

// Lets every allocation through, as the hook of ttnn's NORMAL-mode capture does.
class PassingHook : public BlockingHook {
 public:
  bool hook_allocate(const mt::Buffer*) override { return false; }
  bool hook_deallocate(mt::Buffer*) override { return false; }
  bool hook_program(mt::Program*) override { return false; }
};

constexpr uint64_t kPage = 1024;

int RunCase(const std::string& name, Probe& p) {
  const size_t n = p.chips().size();
  using BT = mt::BufferType;
  if (name == "buffers") {
    std::vector<std::shared_ptr<mt::Buffer>> bufs;
    for (size_t i = 0; i < n; ++i) {
      // Sizes differ per chip; the second DRAM buffer does not give every bank the same pages.
      bufs.push_back(p.Make(i, BT::DRAM, (i + 1) * 48 * kPage, kPage));
      bufs.push_back(p.Make(i, BT::DRAM, 5 * kPage, kPage));
      bufs.push_back(p.Make(i, BT::L1, (i + 2) * 64 * kPage, kPage));
      bufs.push_back(p.MakeSharded(i, BT::L1_SMALL, 16));
      bufs.push_back(p.Make(i, BT::TRACE, (i + 1) * 24 * kPage, kPage));
    }
    p.Checkpoint("allocated");
    for (size_t k = 0; k < bufs.size(); k += 2) p.Drop(k / 5, bufs[k], kPage);
    p.Checkpoint("half-freed");
    for (size_t k = 1; k < bufs.size(); k += 2) p.Drop(k / 5, bufs[k], kPage);
    p.Checkpoint("freed");
    return 0;
  }
  if (name == "mesh") {
    auto rep = p.MakeMesh(dist::ReplicatedBufferConfig{96 * kPage}, BT::DRAM, kPage);
    auto rep_l1 = p.MakeMesh(dist::ReplicatedBufferConfig{128 * kPage}, BT::L1, kPage);
    const auto shape = p.mesh()->shape();
    const uint32_t rows = shape[0], cols = shape[1];
    // 2D-sharded over the mesh: each chip gets a 64 x 256-element shard of 4-byte data.
    const uint32_t h = 64, w = 256;
    auto sharded =
        p.MakeMesh(dist::ShardedBufferConfig{.global_size = uint64_t{rows} * h * cols * w * 4,
                                             .global_buffer_shape = {rows * h, cols * w * 4},
                                             .shard_shape = {h, w * 4}},
                   BT::DRAM, kPage);
    p.Checkpoint("allocated");
    p.DropMesh(rep, BT::DRAM, kPage);
    p.Checkpoint("replicated-freed");
    p.DropMesh(sharded, BT::DRAM, kPage);
    p.DropMesh(rep_l1, BT::L1, kPage);
    p.Checkpoint("freed");
    return 0;
  }
  if (name == "threads") {
    // One thread started before anything was allocated (and, with TTMEM_PROBE_DLOPEN, before the
    // library was loaded), one after; each allocates on every chip.
    std::mutex mu;
    std::condition_variable cv;
    bool go = false;
    std::vector<std::shared_ptr<mt::Buffer>> early_bufs, late_bufs;
    std::thread early([&] {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return go; });
      lock.unlock();
      for (size_t i = 0; i < n; ++i) early_bufs.push_back(p.Make(i, BT::DRAM, 36 * kPage, kPage));
    });
    if (const char* lib = std::getenv("TTMEM_PROBE_DLOPEN")) {
      if (dlopen(lib, RTLD_NOW | RTLD_GLOBAL) == nullptr) {
        std::fprintf(stderr, "probe: dlopen %s: %s\n", lib, dlerror());
        return 2;
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      go = true;
    }
    cv.notify_all();
    early.join();
    std::thread late([&] {
      for (size_t i = 0; i < n; ++i) late_bufs.push_back(p.Make(i, BT::L1, 72 * kPage, kPage));
    });
    late.join();
    p.Checkpoint("allocated");
    std::thread freer([&] {
      for (size_t i = 0; i < n; ++i) {
        p.Drop(i, early_bufs[i], kPage);
        p.Drop(i, late_bufs[i], kPage);
      }
    });
    freer.join();
    p.Checkpoint("freed");
    return 0;
  }
  if (name == "clear") {
    auto before = p.Make(0, BT::DRAM, 24 * kPage, kPage);
    mt::GraphTracker::instance().clear();
    auto after = p.Make(n - 1, BT::L1, 64 * kPage, kPage);
    p.Checkpoint("allocated");
    p.Drop(0, before, kPage);
    p.Drop(n - 1, after, kPage);
    p.Checkpoint("freed");
    return 0;
  }
  if (name == "hook") {
    auto real = p.Make(0, BT::DRAM, 24 * kPage, kPage);
    // A NORMAL-mode capture installs a hook that lets allocations through: real memory.
    mt::GraphTracker::instance().add_hook(std::make_shared<PassingHook>());
    auto normal = p.Make(0, BT::L1, 64 * kPage, kPage);
    p.Checkpoint("normal-capture");
    mt::GraphTracker::instance().clear_hook();
    // A NO_DISPATCH capture blocks them: address 0, no memory; a capture estimate.
    mt::GraphTracker::instance().add_hook(std::make_shared<BlockingHook>());
    auto blocked =
        mt::CreateBuffer(mt::InterleavedBufferConfig{p.chips()[0], 480 * kPage, kPage, BT::DRAM});
    p.ExpectCapture(0, BT::DRAM, 480 * kPage);
    p.Checkpoint("captured");
    blocked.reset();
    mt::GraphTracker::instance().clear_hook();
    p.ForgetCapture(0, BT::DRAM, 480 * kPage);
    p.Drop(0, normal, kPage);
    p.Drop(0, real, kPage);
    p.Checkpoint("freed");
    return 0;
  }
  if (name == "cb") {
    {
      mt::Program overlapping = OverlappingCbs();
      Dispatch(overlapping, p.mesh());
      p.ExpectResidentCb(&overlapping);
      p.Checkpoint("overlapping");
      mt::Program disjoint = DisjointCbs();
      Dispatch(disjoint, p.mesh());
      p.ExpectResidentCb(&disjoint);
      // tt-metal's figure is every registered program's, merged per core: destroy the first.
    }
    p.ExpectResidentCb(nullptr);
    p.Checkpoint("destroyed");
    {
      mt::Program disjoint = DisjointCbs();
      Dispatch(disjoint, p.mesh());
      p.ExpectResidentCb(&disjoint);
      p.Checkpoint("disjoint");
    }
    auto l1 = p.Make(0, BT::L1, 64 * kPage, kPage);  // backs the globally allocated CB
    {
      mt::Program tricky = TrickyCbs(*l1);
      Dispatch(tricky, p.mesh());
      p.ExpectResidentCb(&tricky);
      p.Checkpoint("tricky");
    }
    p.Drop(0, l1, kPage);
    {
      // A CB resized on a program-cache hit (UpdateCircularBufferTotalSize, as ttnn's program
      // factories do): the next enqueue lays the program out again.
      mt::Program resized = mt::CreateProgram();
      const auto first =
          mt::CreateCircularBuffer(resized, mt::CoreRange({0, 0}, {1, 1}), Cb(16384, 0));
      mt::CreateCircularBuffer(resized, mt::CoreRange({1, 1}, {2, 2}), Cb(8192, 1));
      Dispatch(resized, p.mesh());
      p.ExpectResidentCb(&resized);
      p.Checkpoint("before-resize");
      mt::UpdateCircularBufferTotalSize(resized, first, 32768);
      Dispatch(resized, p.mesh());
      p.ExpectResidentCb(&resized);
      p.Checkpoint("resized");
    }
    p.ExpectResidentCb(nullptr);
    p.Checkpoint("freed");
    return 0;
  }
  if (name == "stale") {
    {
      mt::Program never = OverlappingCbs();
      Dispatch(never, p.mesh(), /*lay_out=*/false);  // CBs never laid out
      p.ExpectResidentCb(nullptr);
      p.Checkpoint("dispatched-not-laid-out");
    }
    p.Checkpoint("destroyed");
    return 0;
  }
  if (name == "cache") {
    // A program cache of four programs dispatched round robin, three rounds: the resident
    // program's CBs each time, never their sum.
    std::vector<mt::Program> cache;
    for (uint32_t k = 1; k <= 4; ++k) cache.push_back(OverlappingCbs(k));
    for (int round = 0; round < 3; ++round)
      for (size_t k = 0; k < cache.size(); ++k) {
        Dispatch(cache[k], p.mesh());
        p.ExpectResidentCb(&cache[k]);
        if (round == 2 || k == 0)
          p.Checkpoint("round" + std::to_string(round) + "-program" + std::to_string(k));
      }
    cache.clear();
    p.ExpectResidentCb(nullptr);
    p.Checkpoint("freed");
    return 0;
  }
  if (name == "ops") {
    auto& g = mt::GraphTracker::instance();
    int a = 1, b = 2;
    g.track_function_start("ttnn::matmul", a, b);
    auto out = p.Make(0, BT::DRAM, 96 * kPage, kPage);
    g.track_function_start("ttnn::prim::matmul", a);
    auto inner = p.Make(0, BT::L1, 64 * kPage, kPage);
    int result = 0;
    g.track_function_end(result);
    g.track_function_end(result);
    auto outside = p.Make(0, BT::DRAM, 24 * kPage, kPage);
    p.Checkpoint("allocated");
    p.Drop(0, out, kPage);
    p.Drop(0, inner, kPage);
    p.Drop(0, outside, kPage);
    p.Checkpoint("freed");
    return 0;
  }
  if (name == "oom") {
    auto held = p.Make(0, BT::L1, 512 * kPage, kPage);
    auto& g = mt::GraphTracker::instance();
    g.track_function_start("ttnn::conv2d");
    auto more = p.Make(0, BT::DRAM, 48 * kPage, kPage);
    p.Checkpoint("held");
    // More L1 than the chip has: tt-metal's allocator throws "Out of Memory: ..."; nobody catches
    // it, so std::terminate runs (the stack is not unwound: every buffer is still held).
    auto too_big = [&] {
      return mt::CreateBuffer(
          mt::InterleavedBufferConfig{p.chips()[0], uint64_t{1} << 30, kPage, BT::L1});
    };
    std::thread([&] { too_big(); }).join();
    return 0;
  }
  if (name == "kill") {
    std::vector<std::shared_ptr<mt::Buffer>> bufs;
    for (size_t i = 0; i < n; ++i) {
      bufs.push_back(p.Make(i, BT::DRAM, 120 * kPage, kPage));
      bufs.push_back(p.Make(i, BT::L1, 80 * kPage, kPage));
    }
    mt::Program prog = OverlappingCbs();
    Dispatch(prog, p.mesh());
    p.ExpectResidentCb(&prog);
    p.Checkpoint("held");  // the driver kills the process here
    return 0;
  }
  if (name == "kernel") {
    // A program with a kernel, compiled and finalized as its first enqueue does, dispatched on
    // one chip: KERNEL is its kernel-text slot per core type times the cores (in mock mode
    // tt-metal builds no binaries, so the slots are empty).
    mt::IDevice* chip = p.chips()[0];
    mt::Program prog = mt::CreateProgram();
    const std::string root = std::getenv("TT_METAL_RUNTIME_ROOT");
    mt::CreateKernel(prog, root + "/tt_metal/kernels/dataflow/blank.cpp",
                     mt::CoreRange({0, 0}, {1, 1}),
                     mt::DataMovementConfig{.processor = mt::DataMovementProcessor::RISCV_0,
                                            .noc = mt::NOC::RISCV_0_default});
    // (No CB: in mock mode tt-metal's compile of a kernel with CBs crashes in
    // JitBuildOptions::set_hlk_operand_dataformat_all_cores, with or without ttmem.)
    mt::detail::CompileProgram(chip, prog, /*force_slow_dispatch=*/true);
    prog.impl().finalize_offsets(chip);
    Dispatch(prog, chip);
    uint64_t kernel = 0;
    const auto cores = prog.impl().logical_cores();
    for (uint32_t i = 0; i < cores.size(); ++i)
      kernel += uint64_t{prog.impl().get_program_config(i).kernel_text_size} * cores[i].size();
    p.ExpectResidentCb(&prog, chip);
    p.ExpectKernel(chip, kernel);
    p.Checkpoint("dispatched");
    return 0;
  }
  if (name == "race") {
    // Two threads write one plain int: ThreadSanitizer must report it (the TSan run's self-check
    // that races in instrumented code are seen next to tt-metal's uninstrumented libraries).
    static int shared = 0;
    std::thread a([] {
      for (int i = 0; i < 100000; ++i) shared = shared + 1;
    });
    std::thread b([] {
      for (int i = 0; i < 100000; ++i) shared = shared + 1;
    });
    a.join();
    b.join();
    std::printf("race %d\n", shared);
    return 0;
  }
  std::fprintf(stderr, "probe: unknown case '%s'\n", name.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s CASE ROWS COLS\n", argv[0]);
    return 2;
  }
  const std::string name = argv[1];
  Probe p(std::atoi(argv[2]), std::atoi(argv[3]));
  std::cout << "CHIPS";
  for (mt::IDevice* d : p.chips()) std::cout << " " << d->id();
  std::cout << std::endl;
  const int rc = RunCase(name, p);
  p.Close();
  std::cout << "DONE " << rc << std::endl;
  return rc;
}
