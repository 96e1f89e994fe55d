// CB accounting at dispatch, side by side in one run: ttmem's processor rules against tt-metal's
// own CB accounting code (Device::get_total_cb_allocated() and
// ProgramImpl::get_cb_l1_regions_per_core(), which tt-metal runs for its shared-memory statistics)
// compiled from the tree TT_METAL_HOME names. Built and run by bench/upstream_cb.sh, which
// extracts those two functions from the tree into upstream_cb_extracted.inc (in the build
// directory; no tt-metal code is in ttmem's repository) with the minimal types they touch.
//
// The case (issue #52010's shape): 32 devices, programs of 32 CBs on an 8x8 grid (64 cores), 100
// programs in the program cache, dispatched round-robin.
#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_set>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include <tt-metalium/core_coord.hpp>

#include "ttmem/ttmem.h"
#include "ttmem_tracking.h"

namespace tt::tt_metal {
namespace detail {
// The members of ProgramImpl that the extracted function reads, with tt-metal's names and types.
class ProgramImpl {
 public:
  struct CircularBufferAllocator {
    explicit CircularBufferAllocator(const CoreRange& r) : core_range(r) {}
    CoreRange core_range;
    std::vector<std::pair<uint64_t, uint64_t>> l1_regions;
  };
  std::vector<CircularBufferAllocator> cb_allocators_;
  size_t get_num_cb_devices() const { return 32; }
  std::map<CoreCoord, std::vector<std::pair<uint64_t, uint64_t>>> get_cb_l1_regions_per_core(
      int device_id, size_t num_devices) const;
};
}  // namespace detail

// The members of Device that the extracted function reads.
class Device {
 public:
  explicit Device(int id) : id_(id) {}
  int id() const { return id_; }
  uint64_t get_total_cb_allocated() const;
  std::unordered_set<detail::ProgramImpl*> active_programs_;
  mutable std::mutex active_programs_mutex_;

 private:
  int id_;
};

#include "upstream_cb_extracted.inc"

}  // namespace tt::tt_metal

namespace {

namespace ti = ttmem::integration;
namespace tm = tt::tt_metal;
constexpr int kDevices = 32, kCbs = 32, kPrograms = 100;
constexpr uint64_t kCbSize = 8192, kBase = 0x20000;

struct Setup {
  std::vector<tm::detail::ProgramImpl> programs;
  std::vector<std::unique_ptr<tm::Device>> devices;
  std::vector<uint32_t> chips;
  std::vector<ti::ProgramLayout> layouts;
  Setup() {
    programs.resize(kPrograms);
    for (auto& p : programs) {
      tm::detail::ProgramImpl::CircularBufferAllocator a(tm::CoreRange({0, 0}, {7, 7}));
      for (uint64_t i = 0; i < kCbs; ++i)
        a.l1_regions.emplace_back(kBase + i * kCbSize, kBase + (i + 1) * kCbSize);
      p.cb_allocators_.push_back(a);
      const ti::CoreRect grid{0, 0, 7, 7};
      std::vector<ti::ProgramCb> cbs(kCbs, ti::ProgramCb{&grid, 1, kCbSize, false});
      layouts.push_back({ti::CbReservedBytes(cbs.data(), cbs.size(), kBase, 32), 0});
    }
    for (int d = 0; d < kDevices; ++d) {
      devices.push_back(std::make_unique<tm::Device>(d));
      for (auto& p : programs) devices.back()->active_programs_.insert(&p);  // the cache
      chips.push_back(static_cast<uint32_t>(d));
    }
  }
};

Setup& S() {
  static Setup s;
  return s;
}

// ttmem: a dispatch compares the program's layout (computed once) with what is resident.
void BM_TtmemDispatch(benchmark::State& state) {
  Setup& s = S();
  size_t i = 0;
  uint64_t bytes = 0;
  for (auto _ : state) {
    ti::ProgramDispatched({s.chips.data(), s.chips.size()}, s.layouts[i]);
    bytes = s.layouts[i].cb_bytes;
    i = (i + 1) % s.layouts.size();
  }
  state.counters["cb_bytes_per_device"] = static_cast<double>(bytes);
  ttmem_flush(1000);
}
BENCHMARK(BM_TtmemDispatch)->UseRealTime();

// tt-metal: its CB figure for every device of the mesh, over the programs registered there.
void BM_UpstreamCbAccounting(benchmark::State& state) {
  Setup& s = S();
  uint64_t bytes = 0;
  for (auto _ : state)
    for (auto& d : s.devices) benchmark::DoNotOptimize(bytes = d->get_total_cb_allocated());
  state.counters["cb_bytes_per_device"] = static_cast<double>(bytes);
}
BENCHMARK(BM_UpstreamCbAccounting)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
