// alloc_cost.cc — the cost of tracking inside a real tt-metal process (mock devices): Google
// Benchmark loops of create + destroy of a 4 KiB DRAM buffer on one chip, and of a replicated
// 4 KiB DRAM mesh buffer on every chip of the mesh. Built against the tree TT_METAL_HOME names
// and run in alternating configurations by bench/tt_metal_cost.sh (docs/benchmarks.md); the
// configuration is the process's environment:
//   TT_METAL_SHM_TRACKING_DISABLED=1   tt-metal's own statistics tracker off;
//   LD_PRELOAD=libttmem_tt_metal.so    ttmem's processor (TT_ALLOC_TRACKING_ENABLED=1);
//   TTMEM_BENCH_EMPTY_PROCESSOR=1      a processor that does nothing: GraphTracker's dispatch,
//                                      the floor of any processor.
// Usage: ttmem_tt_metal_alloc_cost ROWS COLS [benchmark flags]
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>

#include <tt-metalium/buffer.hpp>
#include <tt-metalium/graph_tracking.hpp>
#include <tt-metalium/host_api.hpp>
#include <tt-metalium/mesh_buffer.hpp>
#include <tt-metalium/mesh_device.hpp>

namespace mt = tt::tt_metal;
namespace dist = tt::tt_metal::distributed;

namespace {

std::shared_ptr<dist::MeshDevice> g_mesh;

class EmptyProcessor : public mt::IGraphProcessor {
 public:
  bool is_capture_processor() const override { return false; }
};

void BM_CreateDestroyBuffer(benchmark::State& state) {
  mt::IDevice* chip = g_mesh->get_devices()[0];
  for (auto _ : state) {
    auto b = mt::CreateBuffer(mt::InterleavedBufferConfig{chip, 4096, 1024, mt::BufferType::DRAM});
    benchmark::DoNotOptimize(b.get());
  }
  state.counters["ns_per_create_destroy"] =
      benchmark::Counter(static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_CreateDestroyBuffer)->Iterations(200000)->UseRealTime();

void BM_CreateDestroyMeshBuffer(benchmark::State& state) {
  for (auto _ : state) {
    auto b = dist::MeshBuffer::create(
        dist::ReplicatedBufferConfig{4096},
        dist::DeviceLocalBufferConfig{.page_size = 1024, .buffer_type = mt::BufferType::DRAM},
        g_mesh.get());
    benchmark::DoNotOptimize(b.get());
  }
  state.counters["ns_per_create_destroy"] =
      benchmark::Counter(static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_CreateDestroyMeshBuffer)->Iterations(50000)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  g_mesh = dist::MeshDevice::create(
      dist::MeshDeviceConfig(dist::MeshShape(std::atoi(argv[1]), std::atoi(argv[2]))));
  const char* empty = std::getenv("TTMEM_BENCH_EMPTY_PROCESSOR");
  if (empty != nullptr && empty[0] == '1')
    mt::GraphTracker::instance().push_processor(std::make_shared<EmptyProcessor>());
  argv[2] = argv[0];
  int n = argc - 2;
  benchmark::Initialize(&n, argv + 2);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_mesh->close();
  return 0;
}
