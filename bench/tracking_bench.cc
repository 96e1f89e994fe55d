// Benchmarks of the processor rules (integrations/ttmem_tracking.h), the code every callback of
// libttmem_tt_metal.so and the simulator's processor runs, against libttmem's raw hot path
// measured in the same run. Run with a live daemon (bench/run.sh does; or by hand:
// TT_ALLOC_TRACKING_ENABLED=1 TTMEM_SOCKET=... build/bin/ttmem_tracking_bench).
#include <cstdint>
#include <vector>

#include <benchmark/benchmark.h>

#include "ttmem/ttmem.h"
#include "ttmem_tracking.h"

namespace {

namespace ti = ttmem::integration;
constexpr int kBurst = 2048;  // events per timed burst; the daemon drains between bursts

void Rate(benchmark::State& state, double per_iteration, const char* name) {
  state.counters[name] =
      benchmark::Counter(static_cast<double>(state.iterations()) * per_iteration,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// Baseline: libttmem's C ABI called directly.
void BM_RawHotPath(benchmark::State& state) {
  uint64_t id = 1;
  for (auto _ : state) {
    for (int i = 0; i < kBurst / 2; ++i, ++id) {
      ttmem_alloc_ex(0, TTMEM_DRAM, id, 0x1000, 4096, 0);
      ttmem_free(0, id);
    }
    state.PauseTiming();
    ttmem_flush(1000);
    state.ResumeTiming();
  }
  Rate(state, kBurst, "ns_per_event");
}
BENCHMARK(BM_RawHotPath)->UseRealTime();

// A buffer event through the rules, as track_allocate / track_deallocate make it (one chip).
void BM_ProcessorBufferEvent(benchmark::State& state) {
  uint32_t chip = 0;
  uint64_t id = 1ull << 40;
  for (auto _ : state) {
    for (int i = 0; i < kBurst / 2; ++i, ++id) {
      ti::BufferAllocated({ti::BufferType::kDram, id, 0x1000, 4096, false}, {&chip, 1});
      ti::BufferDeallocated(id, {&chip, 1});
    }
    state.PauseTiming();
    ttmem_flush(1000);
    state.ResumeTiming();
  }
  Rate(state, kBurst, "ns_per_event");
}
BENCHMARK(BM_ProcessorBufferEvent)->UseRealTime();

// The dispatch case: 32 devices, programs of 32 CBs on 64 cores each, 100 cached programs
// of one layout dispatched round-robin. Per program the layout is computed once (the shells keep
// it); a dispatch compares it with what is resident on each chip.
struct Cache {
  std::vector<uint32_t> chips;
  ti::CoreRect grid{0, 0, 7, 7};  // 8x8 = 64 cores
  std::vector<std::vector<ti::ProgramCb>> programs;
  std::vector<ti::ProgramLayout> layouts;
  Cache() {
    for (uint32_t c = 0; c < 32; ++c) chips.push_back(c);
    for (int p = 0; p < 100; ++p) {
      std::vector<ti::ProgramCb> cbs(32, ti::ProgramCb{&grid, 1, 8192, false});
      layouts.push_back({ti::CbReservedBytes(cbs.data(), cbs.size(), 0x20000, 32), 0});
      programs.push_back(std::move(cbs));
    }
  }
};

void BM_DispatchCachedPrograms(benchmark::State& state) {
  static Cache cache;
  size_t i = 0;
  for (auto _ : state) {
    ti::ProgramDispatched({cache.chips.data(), cache.chips.size()}, cache.layouts[i]);
    i = (i + 1) % cache.layouts.size();
  }
  Rate(state, 1, "ns_per_dispatch");
  ttmem_flush(1000);
}
BENCHMARK(BM_DispatchCachedPrograms)->UseRealTime();

// For comparison in the same run: the same dispatch when the layout is computed at every dispatch
// (tt-metal's reservation of 32 CBs on 64 cores) and reported per device: the cost the memo and
// the comparison avoid. Not tt-metal's code.
void BM_DispatchRecomputingLayout(benchmark::State& state) {
  static Cache cache;
  size_t i = 0;
  for (auto _ : state) {
    const auto& cbs = cache.programs[i];
    ti::ProgramLayout l{ti::CbReservedBytes(cbs.data(), cbs.size(), 0x20000, 32), 0};
    for (uint32_t c : cache.chips) ti::ProgramDispatched({&c, 1}, l);
    i = (i + 1) % cache.programs.size();
  }
  Rate(state, 1, "ns_per_dispatch");
  ttmem_flush(1000);
}
BENCHMARK(BM_DispatchRecomputingLayout)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
