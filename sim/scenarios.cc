#include "sim/scenarios.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "protocol/mem_types.h"
#include "sim/buffer.h"
#include "sim/graph_tracker.h"
#include "sim/hold.h"
#include "sim/mesh.h"
#include "sim/program.h"
#include "ttmem/ttmem.h"
#include "ttmem_tracking.h"

namespace ttsim {

extern std::atomic<bool> g_stop;  // set by SIGINT/SIGTERM (main.cc)

namespace {

constexpr uint64_t kKiB = 1024, kMiB = 1024 * 1024;
constexpr uint64_t kTile = 2048;  // a 32x32 bfloat16 tile: the page size of tiled tensors

using CaptureUsage = std::map<uint32_t, UsageByType>;

// --checkpoints: after ttmem_flush, print the simulator's own figures as one JSON line, then wait
// for a line on stdin, so a test can compare them with the daemon's at that moment.
class Checkpoints {
 public:
  explicit Checkpoints(bool enabled) : enabled_(enabled) {}
  void At(const std::string& name, const std::vector<Device*>& devices,
          const CaptureUsage& capture = {}) {
    if (!enabled_) return;
    nlohmann::json j;
    j["checkpoint"] = name;
    j["pid"] = ::getpid();
    j["flush"] = ttmem_flush(10000);
    j["devices"] = nlohmann::json::object();
    for (Device* d : devices) j["devices"][std::to_string(d->id())] = ToJson(d->UsageSnapshot());
    // The allocators' own per-bank statistics (tt-metal's Statistics) of the interleaved types.
    j["allocators"] = nlohmann::json::object();
    for (Device* d : devices)
      for (int t = 0; t < kNumMemTypes; ++t)
        if (d->BankAllocatorFor(static_cast<MemType>(t)) != nullptr) {
          AllocatorStats st = d->Statistics(static_cast<MemType>(t));
          j["allocators"][std::to_string(d->id())]
           [std::string(ttmem::proto::kMemTypeKeys[static_cast<size_t>(t)])] = {
               {"total_allocated_bytes", st.total_allocated_bytes},
               {"largest_free_block_bytes", st.largest_free_block_bytes},
               {"total_free_bytes", st.total_free_bytes}};
        }
    j["capture"] = nlohmann::json::object();
    for (const auto& [id, usage] : capture) j["capture"][std::to_string(id)] = ToJson(usage);
    std::cout << j.dump() << std::endl;
    std::string line;
    std::getline(std::cin, line);
  }

 private:
  static nlohmann::json ToJson(const UsageByType& u) {
    nlohmann::json m = nlohmann::json::object();
    for (int t = 0; t < kNumMemTypes; ++t)
      m[std::string(ttmem::proto::kMemTypeKeys[static_cast<size_t>(t)])] = {
          {"used_bytes", u[t].bytes}, {"buffers", u[t].count}};
    return m;
  }
  bool enabled_;
};

uint64_t Scaled(const ScenarioOptions& o, uint64_t bytes) {
  double v = static_cast<double>(bytes) * o.scale;
  return v < 1 ? 1 : static_cast<uint64_t>(v);
}

void Hold(const ScenarioOptions& o) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(o.hold_ms);
  while (!g_stop && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

// ttnn's op scope (GraphTracker::track_function_start / end) around a device operation.
class OpScope {
 public:
  explicit OpScope(std::string_view name) { GraphTracker::instance().track_function_start(name); }
  ~OpScope() { GraphTracker::instance().track_function_end(); }
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;
};

std::vector<Device*> DevicesOf(MeshDevice& mesh) {
  std::vector<Device*> devs;
  for (size_t i = 0; i < mesh.num_devices(); ++i) devs.push_back(&mesh.device(i));
  return devs;
}

CoreRange FullGrid(const ArchSpec& a) {
  return {0, 0, a.grid_x - 1, a.grid_y - 1};
}

// --- matmul_multicore_reuse -----------------------------------------------------------------
// tt-metal's programming example: in0 (MxK), in1 (KxN), out (MxN) in DRAM, bfloat16 tiles; a
// program on the whole compute grid with per-core CBs for in0, in1, out and the intermediate
// (double-buffered blocks of 2x4 and 4x4 tiles), and reader, writer and compute kernels.
void MatmulMulticoreReuse(const ScenarioOptions& o, Checkpoints& cp) {
  auto dev = OpenDevice(0, *o.arch);
  std::vector<Device*> devs = {dev.get()};
  const uint64_t M = 1024, K = 1024, N = 1024;
  for (uint32_t r = 0; r < o.repeat && !g_stop; ++r) {
    auto in0 = Buffer::Create(*dev, Scaled(o, M * K * 2), kTile, MemType::kDram);
    auto in1 = Buffer::Create(*dev, Scaled(o, K * N * 2), kTile, MemType::kDram);
    auto out = Buffer::Create(*dev, Scaled(o, M * N * 2), kTile, MemType::kDram);
    cp.At("buffers", devs);
    auto program = std::make_unique<Program>();
    CoreRange grid = FullGrid(*o.arch);
    program->AddCircularBuffer(grid, {16 * kTile, nullptr});  // cb0: in0 blocks
    program->AddCircularBuffer(grid, {16 * kTile, nullptr});  // cb1: in1 blocks
    program->AddCircularBuffer(grid, {16 * kTile, nullptr});  // cb16: out
    program->AddCircularBuffer(grid, {16 * kTile, nullptr});  // cb24: intermediate
    program->AddKernel(grid, 8 * kKiB);                       // reader
    program->AddKernel(grid, 6 * kKiB);                       // writer
    program->AddKernel(grid, 20 * kKiB);                      // compute
    {
      OpScope op("ttnn::matmul");
      program->Launch(*dev);
    }
    cp.At("running", devs);
    Hold(o);
    program.reset();
    cp.At("program_released", devs);
  }
  cp.At("freed", devs);
}

// --- mesh_allocation -------------------------------------------------------------------------
// The seeds' test_mesh_allocation.py: a 2 x 4 mesh, replicated inputs of a few MiB per device,
// an add and a matmul (sharded output, an L1 activation that backs a globally allocated CB), then
// everything freed and the mesh closed.
void MeshAllocation(const ScenarioOptions& o, Checkpoints& cp) {
  MeshDevice mesh(o.rows, o.cols, *o.arch);
  const std::vector<Device*> devs = DevicesOf(mesh);
  CoreRange grid = FullGrid(*o.arch);
  for (uint32_t r = 0; r < o.repeat && !g_stop; ++r) {
    auto a = MeshBuffer::Create(mesh, Scaled(o, 4 * kMiB), kTile, MemType::kDram,
                                MeshLayout::kReplicated);
    auto b = MeshBuffer::Create(mesh, Scaled(o, 4 * kMiB), kTile, MemType::kDram,
                                MeshLayout::kReplicated);
    cp.At("inputs", devs);
    // add: c = a + b
    auto c = MeshBuffer::Create(mesh, Scaled(o, 4 * kMiB), kTile, MemType::kDram,
                                MeshLayout::kReplicated);
    auto add = std::make_unique<Program>();
    for (int i = 0; i < 3; ++i) add->AddCircularBuffer(grid, {4 * kTile, nullptr});
    add->AddKernel(grid, 6 * kKiB);
    add->AddKernel(grid, 4 * kKiB);
    add->AddKernel(grid, 12 * kKiB);
    add->Launch(mesh);  // a mesh workload: resident on every device
    // Views (Buffer::view, the address-taking create) of an input: no memory of their own.
    auto half = a->device_buffer_ptr(0)->View(0, a->per_device_size() / 2 / kTile * kTile);
    cp.At("add", devs);
    // matmul: d = a @ b, sharded over the mesh; e: an L1 activation backing the output CB.
    auto d =
        MeshBuffer::Create(mesh, Scaled(o, 8 * kMiB), kTile, MemType::kDram, MeshLayout::kSharded);
    auto e = MeshBuffer::Create(mesh, 256 * kKiB, kTile, MemType::kL1, MeshLayout::kReplicated);
    std::vector<std::unique_ptr<Program>> matmuls;
    for (size_t i = 0; i < devs.size(); ++i) {
      auto p = std::make_unique<Program>();
      p->AddCircularBuffer(grid, {16 * kTile, nullptr});
      p->AddCircularBuffer(grid, {16 * kTile, nullptr});
      p->AddCircularBuffer(grid, {16 * kTile, e->device_buffer_ptr(i)});  // globally allocated
      p->AddKernel(grid, 8 * kKiB);
      p->AddKernel(grid, 20 * kKiB);
      p->Launch(*devs[i]);
      matmuls.push_back(std::move(p));
    }
    cp.At("ops", devs);
    Hold(o);
    matmuls.clear();
    add.reset();
    half.reset();
    cp.At("programs_released", devs);
  }
  cp.At("freed", devs);
}

// --- graph_capture ---------------------------------------------------------------------------
// ttnn's graph capture. NO_DISPATCH: the op's buffers are blocked by the hook (address 0, no
// device memory; shown as a capture estimate) and its program is not dispatched, while real
// buffers stay live; a worker thread allocating during the capture is not hooked (the hook is per
// thread): its buffer is real. NORMAL: the hook is installed too, but allocations and dispatch are
// real. Then GraphTracker::clear() (a test teardown) wipes this thread's processors: what is
// allocated after it must still be tracked.
class RecordingProcessor : public IGraphProcessor {
 public:
  void track_allocate(const Buffer*) override { ++allocations; }
  std::atomic<int> allocations{0};
};

void GraphCapture(const ScenarioOptions& o, Checkpoints& cp) {
  auto dev = OpenDevice(0, *o.arch);
  std::vector<Device*> devs = {dev.get()};
  using Mode = IGraphProcessor::RunMode;
  for (uint32_t r = 0; r < o.repeat && !g_stop; ++r) {
    auto input = Buffer::Create(*dev, Scaled(o, 4 * kMiB), kTile, MemType::kDram);
    auto weights = Buffer::Create(*dev, Scaled(o, 2 * kMiB), kTile, MemType::kDram);
    cp.At("inputs", devs);
    auto recorder = std::make_shared<RecordingProcessor>();
    GraphTracker::instance().push_processor(recorder);
    GraphTracker::instance().add_hook(std::make_shared<CaptureHooks>(Mode::kNoDispatch));
    auto t1 = Buffer::Create(*dev, Scaled(o, 8 * kMiB), kTile, MemType::kDram);
    auto t2 = Buffer::Create(*dev, 512 * kKiB, kTile, MemType::kL1);
    auto out = Buffer::Create(*dev, Scaled(o, 4 * kMiB), kTile, MemType::kDram);
    auto op = std::make_unique<Program>();
    op->AddCircularBuffer(FullGrid(*o.arch), {8 * kTile, nullptr});
    op->AddCircularBuffer(FullGrid(*o.arch), {8 * kTile, nullptr});
    op->AddKernel(FullGrid(*o.arch), 10 * kKiB);
    op->Launch(*dev);  // blocked: not dispatched
    std::shared_ptr<Buffer> cache;
    std::thread([&] {
      cache = Buffer::Create(*dev, Scaled(o, 1 * kMiB), kTile, MemType::kDram);
    }).join();
    CaptureUsage capture;
    UsageByType& c = capture[dev->id()];
    c[static_cast<int>(MemType::kDram)] = {t1->size() + out->size(), 2};
    c[static_cast<int>(MemType::kL1)] = {t2->size(), 1};
    cp.At("captured", devs, capture);
    Hold(o);
    t1.reset();
    t2.reset();
    out.reset();
    op.reset();
    GraphTracker::instance().clear_hook();
    GraphTracker::instance().pop_processor();
    cp.At("after_capture", devs);
    // NORMAL mode: a hook is installed, but the allocation and the dispatch are real.
    GraphTracker::instance().push_processor(recorder);
    GraphTracker::instance().add_hook(std::make_shared<CaptureHooks>(Mode::kNormal));
    auto real = Buffer::Create(*dev, Scaled(o, 3 * kMiB), kTile, MemType::kDram);
    auto normal_op = std::make_unique<Program>();
    normal_op->AddCircularBuffer(FullGrid(*o.arch), {4 * kTile, nullptr});
    normal_op->AddKernel(FullGrid(*o.arch), 6 * kKiB);
    normal_op->Launch(*dev);
    cp.At("normal_capture", devs);
    GraphTracker::instance().clear_hook();
    GraphTracker::instance().pop_processor();
    // A teardown that clears the tracker: ttmem's processor comes back on this thread.
    GraphTracker::instance().clear();
    auto after = Buffer::Create(*dev, Scaled(o, 2 * kMiB), kTile, MemType::kDram);
    normal_op->Launch(*dev);
    cp.At("after_clear", devs);
    after.reset();
    real.reset();
    normal_op.reset();
    cp.At("normal_freed", devs);
  }
  cp.At("freed", devs);
}

// --- program_cache ---------------------------------------------------------------------------
// ttnn's program cache: --programs N programs with the same CB and kernel layout (as the same op
// on tensors of other shapes gets), all kept, dispatched round-robin on a mesh (device 0 and the
// rest of --mesh). Only the dispatched program's CBs and binaries are resident: CB and KERNEL are
// the same for N = 1 and N = 100.
void ProgramCache(const ScenarioOptions& o, Checkpoints& cp) {
  MeshDevice mesh(o.rows, o.cols, *o.arch);
  const std::vector<Device*> devs = DevicesOf(mesh);
  CoreRange grid = FullGrid(*o.arch);
  for (uint32_t r = 0; r < o.repeat && !g_stop; ++r) {
    auto input = MeshBuffer::Create(mesh, Scaled(o, 2 * kMiB), kTile, MemType::kDram,
                                    MeshLayout::kReplicated);
    std::vector<std::unique_ptr<Program>> cache;
    for (uint32_t i = 0; i < o.programs; ++i) {
      auto p = std::make_unique<Program>();
      for (int c = 0; c < 8; ++c) p->AddCircularBuffer(grid, {4 * kTile, nullptr});
      p->AddKernel(grid, 6 * kKiB);
      p->AddKernel(grid, 4 * kKiB);
      p->AddKernel(grid, 12 * kKiB);
      cache.push_back(std::move(p));
    }
    for (int round = 0; round < 3 && !g_stop; ++round)
      for (auto& p : cache) {
        OpScope op("ttnn::add");
        p->Launch(mesh);
      }
    cp.At("cached", devs);
    // While it holds, keep dispatching round-robin (what a serving loop does).
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(o.hold_ms);
    for (size_t i = 0; !g_stop && std::chrono::steady_clock::now() < end; ++i) {
      cache[i % cache.size()]->Launch(mesh);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    cache.clear();
    cp.At("cache_cleared", devs);
  }
  cp.At("freed", devs);
}

// --- churn -----------------------------------------------------------------------------------
// Random allocations of every type and programs with CBs and kernels, from several threads (ids
// freed by one thread, buffers freed by another), optionally from several processes.
struct ChurnStats {
  std::atomic<uint64_t> ops{0}, oom{0};
};

// What the churn's threads share: live buffers and programs, under one lock.
struct ChurnPool {
  std::mutex mu;
  std::vector<std::shared_ptr<Buffer>> live;
  std::vector<std::pair<std::unique_ptr<Program>, Device*>> programs;

  // A buffer of a random type and size (false: the pool is full).
  bool Allocate(const ScenarioOptions& o, Device& dev, std::mt19937_64& rng, size_t max_live) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (live.size() >= max_live) return false;
    }
    int k = static_cast<int>(rng() % 20);
    MemType type = k < 10   ? MemType::kDram
                   : k < 14 ? MemType::kL1
                   : k < 17 ? MemType::kL1Small
                   : k < 19 ? MemType::kTrace
                            : MemType::kSystemMemory;
    uint64_t size = type == MemType::kDram      ? (64 * kKiB) << (rng() % 9)
                    : type == MemType::kL1      ? (4 * kKiB) << (rng() % 6)
                    : type == MemType::kL1Small ? 256u << (rng() % 5)
                    : type == MemType::kTrace   ? (64 * kKiB) << (rng() % 4)
                                                : (4 * kKiB) << (rng() % 8);
    auto b = Buffer::Create(dev, Scaled(o, size), kTile, type);
    std::lock_guard<std::mutex> lock(mu);
    live.push_back(std::move(b));
    return true;
  }
  // A live buffer freed on this thread, whoever allocated it.
  void Free(std::mt19937_64& rng) {
    std::shared_ptr<Buffer> victim;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (live.empty()) return;
      size_t i = rng() % live.size();
      victim = std::move(live[i]);
      live[i] = std::move(live.back());
      live.pop_back();
    }
    victim->Deallocate();
  }
  // A new program with circular buffers and a kernel, launched.
  void Launch(Device& dev, std::mt19937_64& rng) {
    auto p = std::make_unique<Program>();
    const ArchSpec& a = dev.arch();
    CoreRange range{0, 0, static_cast<uint32_t>(rng() % a.grid_x),
                    static_cast<uint32_t>(rng() % a.grid_y)};
    for (uint64_t i = 0, n = 1 + rng() % 3; i < n; ++i)
      p->AddCircularBuffer(range, {(4 * kKiB) << (rng() % 4), nullptr});
    p->AddKernel(range, (2 + rng() % 14) * kKiB);
    p->Launch(dev);
    std::lock_guard<std::mutex> lock(mu);
    programs.emplace_back(std::move(p), &dev);
  }
  // A program from the cache again (held under the lock: nobody destroys it meanwhile).
  void Relaunch(std::mt19937_64& rng) {
    std::lock_guard<std::mutex> lock(mu);
    if (programs.empty()) return;
    auto& [p, d] = programs[rng() % programs.size()];
    p->Launch(*d);
  }
  // A program destroyed on this thread, whoever dispatched it.
  void Destroy(std::mt19937_64& rng) {
    std::unique_ptr<Program> p;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (programs.empty()) return;
      size_t i = rng() % programs.size();
      std::swap(programs[i], programs.back());
      p = std::move(programs.back().first);
      programs.pop_back();
    }
    p.reset();
  }
};

void ChurnWorker(const ScenarioOptions& o, std::vector<std::unique_ptr<Device>>& devices,
                 uint32_t t, ChurnStats& stats, ChurnPool& pool) {
  std::mt19937_64 rng(o.seed * 7919 + t);
  auto start = std::chrono::steady_clock::now();
  const size_t max_live = 64 * devices.size();
  while (!g_stop) {
    if (o.seconds > 0 &&
        std::chrono::steady_clock::now() - start >= std::chrono::duration<double>(o.seconds))
      break;
    stats.ops.fetch_add(1, std::memory_order_relaxed);
    if (o.rate > 0) std::this_thread::sleep_for(std::chrono::microseconds(1000000 / o.rate));
    Device& dev = *devices[rng() % devices.size()];
    int op = static_cast<int>(rng() % 100);
    try {
      if (op < 45)
        pool.Allocate(o, dev, rng, max_live);
      else if (op < 85)
        pool.Free(rng);
      else if (op < 92)
        pool.Launch(dev, rng);
      else if (op < 96)
        pool.Relaunch(rng);
      else
        pool.Destroy(rng);
    } catch (const OutOfMemory&) {
      stats.oom.fetch_add(1, std::memory_order_relaxed);  // load: expected now and then
    }
  }
}

void Churn(const ScenarioOptions& o, Checkpoints& cp) {
  std::vector<pid_t> children;
  uint32_t index = 0;
  for (uint32_t i = 1; i < o.processes; ++i) {
    pid_t pid = ::fork();
    if (pid == 0) {
      index = i;
      children.clear();
      break;
    }
    if (pid > 0) children.push_back(pid);
  }
  ScenarioOptions mine = o;
  mine.seed = o.seed + index * 1000003;
  std::vector<std::unique_ptr<Device>> devices;
  for (uint32_t i = 0; i < o.rows * o.cols; ++i) devices.push_back(OpenDevice(i, *o.arch));
  std::vector<Device*> devs;
  for (auto& d : devices) devs.push_back(d.get());
  for (uint32_t r = 0; r < o.repeat && !g_stop; ++r) {
    ChurnPool pool;
    ChurnStats stats;
    std::vector<std::thread> threads;
    for (uint32_t t = 0; t < o.threads; ++t)
      threads.emplace_back([&, t] { ChurnWorker(mine, devices, t, stats, pool); });
    for (auto& th : threads) th.join();
    cp.At("churned", devs);
    Hold(o);
    pool.programs.clear();
    pool.live.clear();
    cp.At("freed", devs);
    std::fprintf(stderr, "ttmem-sim: churn (process %u): %llu operations, %llu out of memory\n",
                 index, static_cast<unsigned long long>(stats.ops.load()),
                 static_cast<unsigned long long>(stats.oom.load()));
  }
  for (pid_t c : children) {
    int st = 0;
    ::waitpid(c, &st, 0);
  }
  if (index != 0) {
    ttmem_flush(2000);
    ::_exit(0);
  }
}

// --- leak --------------------------------------------------------------------------------------
// A known sequence with a leak, for recordings: weights (4 MiB DRAM) for the whole run; --repeat
// steps (default 1), each with an 8 MiB DRAM activation and a 256 KiB L1 scratch buffer freed at
// the end of the step, and a 1 MiB DRAM "cache" buffer that is never freed. The weights are freed
// at the end; the caches are still live when the process exits (a leak of repeat x 1 MiB). Peak
// DRAM: 4 + 8 + repeat x 1 MiB, in the last step.
void Leak(const ScenarioOptions& o, Checkpoints& cp) {
  auto dev = OpenDevice(0, *o.arch);
  std::vector<Device*> devs = {dev.get()};
  // Never destroyed: what a leaking runtime leaves behind when it exits.
  static auto* leaked = new std::vector<std::shared_ptr<Buffer>>();
  {
    std::shared_ptr<Buffer> weights;
    {
      OpScope op("ttnn::from_torch");
      weights = Buffer::Create(*dev, Scaled(o, 4 * kMiB), kTile, MemType::kDram);
    }
    const uint32_t steps = o.repeat;
    for (uint32_t i = 0; i < steps && !g_stop; ++i) {
      ttmem_mark("iteration");  // a phase: the report shows what each one left behind
      std::shared_ptr<Buffer> act, scratch;
      {
        OpScope op("ttnn::linear");
        act = Buffer::Create(*dev, Scaled(o, 8 * kMiB), kTile, MemType::kDram);
        scratch = Buffer::Create(*dev, Scaled(o, 256 * kKiB), kTile, MemType::kL1);
      }
      {
        OpScope op("ttnn::concat");  // the leak: a cache that grows by 1 MiB a step
        leaked->push_back(Buffer::Create(*dev, Scaled(o, 1 * kMiB), kTile, MemType::kDram));
      }
      cp.At("step" + std::to_string(i + 1), devs);
      Hold(o);
    }
    cp.At("steps_done", devs);
  }
  cp.At("end", devs);
  ttmem_flush(2000);
  std::fflush(stdout);
  // Leave without running destructors, as a process that forgot its buffers does.
  std::_Exit(0);
}

// --- oom ---------------------------------------------------------------------------------------
// A model that runs out of L1, for the forensic snapshot: ttnn::from_torch weights (4 MiB DRAM),
// ttnn::conv2d's activation (48 MiB L1) and halo config (1 MiB L1_SMALL), ttnn::max_pool2d's
// output (16 MiB L1); then ttnn::matmul fails while all of them are held: --failure l1, an
// output of 32 MiB L1 (tt-metal's "Out of Memory: Not enough space to allocate ..."); cb,
// circular buffers of 400 KiB per core that clash with the L1 buffers (tt-metal's "Statically
// allocated circular buffers in program N clash with L1 buffers ..."). The error is caught where
// the model's tensors are still held and handed to the integration (ErrorCaught: snapshot, summary,
// file), then goes on up: exit 2. --failure uncaught: nobody catches it, std::terminate's handler
// takes the snapshot. (Wormhole B0: 1,364,992 B of L1 per bank, 1 MiB of it held per bank.)
void OomFailingOp(const ScenarioOptions& o, Device& dev) {
  OpScope op("ttnn::matmul");
  if (o.failure == "cb") {
    Program p;
    p.AddCircularBuffer(FullGrid(*o.arch), {Scaled(o, 400 * kKiB), nullptr});
    p.Launch(dev);
    return;
  }
  auto out = Buffer::Create(dev, Scaled(o, 32 * kMiB), kTile, MemType::kL1);
}

void OomUncaught(const ScenarioOptions& o, Device& dev) noexcept {
  OomFailingOp(o, dev);
}

void Oom(const ScenarioOptions& o, Checkpoints& cp) {
  auto dev = OpenDevice(0, *o.arch);
  std::vector<Device*> devs = {dev.get()};
  std::shared_ptr<Buffer> weights, act, halo, pooled;
  {
    OpScope op("ttnn::from_torch");
    weights = Buffer::Create(*dev, Scaled(o, 4 * kMiB), kTile, MemType::kDram);
  }
  {
    OpScope op("ttnn::conv2d");
    act = Buffer::Create(*dev, Scaled(o, 48 * kMiB), kTile, MemType::kL1);
    halo = Buffer::Create(*dev, Scaled(o, 1 * kMiB), kTile, MemType::kL1Small);
  }
  {
    OpScope op("ttnn::max_pool2d");
    pooled = Buffer::Create(*dev, Scaled(o, 16 * kMiB), kTile, MemType::kL1);
  }
  cp.At("held", devs);
  if (o.failure == "uncaught") OomUncaught(o, *dev);
  try {
    OomFailingOp(o, *dev);
  } catch (const OutOfMemory& e) {
    ttmem::integration::ErrorCaught(e.what());  // while the model's tensors are held
    throw;
  }
  std::fprintf(stderr, "ttmem sim: oom: the failing op fitted (--scale too small?)\n");
}

// --- traced_model -------------------------------------------------------------------------------
// A traced model whose regions have known sizes, for the sizing advisor (`ttmem report
// --advise`). Sizes are whole pages in every bank (2 KiB tiles), so each bank's share is exact:
//   L1_SMALL: ttnn::conv2d holds 6 KiB + 2 KiB per bank, ttnn::max_pool2d adds 4 KiB: 12,288 B
//             per bank at its peak (l1_small_size), in ttnn::max_pool2d;
//   TRACE:    two traces captured (ttnn::end_trace_capture), 200 KiB and 100 KiB per DRAM bank:
//             307,200 B per bank (trace_region_size);
//   L1 + CB:  ttnn::matmul's 20 KiB per bank of L1 while its program's 64 KiB of CBs per core
//             are resident: 86,016 B per core at the peak.
// (Wormhole B0: 12 DRAM banks, 64 L1 banks.)
void TracedModel(const ScenarioOptions& o, Checkpoints& cp) {
  auto dev = OpenDevice(0, *o.arch);
  std::vector<Device*> devs = {dev.get()};
  const uint64_t dram_banks = o.arch->dram_banks, cores = o.arch->num_cores();
  std::shared_ptr<Buffer> weights;
  {
    OpScope op("ttnn::from_torch");
    weights = Buffer::Create(*dev, 8 * kMiB, kTile, MemType::kDram);
  }
  {
    std::shared_ptr<Buffer> halo, config, pool;
    {
      OpScope op("ttnn::conv2d");
      halo = Buffer::Create(*dev, 3 * cores * kTile, kTile, MemType::kL1Small);
      config = Buffer::Create(*dev, 1 * cores * kTile, kTile, MemType::kL1Small);
    }
    {
      OpScope op("ttnn::max_pool2d");
      pool = Buffer::Create(*dev, 2 * cores * kTile, kTile, MemType::kL1Small);
    }
    cp.At("l1_small_peak", devs);
  }
  std::shared_ptr<Buffer> trace_a, trace_b;
  {
    OpScope op("ttnn::end_trace_capture");
    trace_a = Buffer::Create(*dev, 100 * dram_banks * kTile, kTile, MemType::kTrace);
    trace_b = Buffer::Create(*dev, 50 * dram_banks * kTile, kTile, MemType::kTrace);
  }
  cp.At("traces", devs);
  trace_b.reset();
  {
    OpScope op("ttnn::matmul");
    auto act = Buffer::Create(*dev, 10 * cores * kTile, kTile, MemType::kL1);
    Program p;
    p.AddCircularBuffer(FullGrid(*o.arch), {64 * kKiB, nullptr});
    p.Launch(*dev);
    cp.At("l1_cb_peak", devs);
    Hold(o);
  }
}

// Buffers held on chosen chips (sim/hold.cc): until interrupted, or --hold-ms.
void HoldBuffers(const ScenarioOptions& o, Checkpoints& cp) {
  RunHold(
      o, [&](const std::string& name, const std::vector<Device*>& devs) { cp.At(name, devs); },
      [&] {
        if (o.hold_ms != 0) return Hold(o);
        while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      });
}

// Every scenario: its name, its help line and what runs it, in one table.
struct Entry {
  Scenario what;
  void (*run)(const ScenarioOptions&, Checkpoints&);
};
const std::vector<Entry>& Table() {
  static const std::vector<Entry> t = {
      {{"matmul_multicore_reuse", "DRAM in0/in1/out and per-core CBs and kernels on the grid"},
       MatmulMulticoreReuse},
      {{"mesh_allocation", "the seeds' mesh test: 2x4 mesh, replicated and sharded tensors, ops"},
       MeshAllocation},
      {{"graph_capture", "real buffers live while an op is captured with NO_DISPATCH"},
       GraphCapture},
      {{"churn", "random allocations of every type from threads (and processes), for load"}, Churn},
      {{"program_cache", "--programs N programs of one layout dispatched round-robin on a mesh"},
       ProgramCache},
      {{"leak", "a known sequence that leaks repeat x 1 MiB of DRAM (for ttmem record/report)"},
       Leak},
      {{"traced_model", "a traced model with known L1_SMALL, TRACE and L1/CB peaks (--advise)"},
       TracedModel},
      {{"oom", "a model that runs out of L1 (--failure l1|cb|uncaught): the snapshot at OOM"}, Oom},
      {{"hold",
        "--hold DEV:TYPE:BYTES and --fragment DEV:TYPE:BYTES held on every chip's "
        "system (--system) until interrupted or --hold-ms, for ttmem pick"},
       HoldBuffers},
  };
  return t;
}

}  // namespace

const std::vector<Scenario>& Scenarios() {
  static const std::vector<Scenario> s = [] {
    std::vector<Scenario> out;
    for (const Entry& e : Table()) out.push_back(e.what);
    return out;
  }();
  return s;
}

int RunScenario(const ScenarioOptions& o) {
  Checkpoints cp(o.checkpoints);
  try {
    auto e = std::find_if(Table().begin(), Table().end(),
                          [&](const Entry& x) { return o.name == x.what.name; });
    if (e == Table().end()) {
      std::fprintf(stderr,
                   "ttmem sim: unknown scenario '%s' (run 'ttmem sim --help' for the list)\n",
                   o.name.c_str());
      return 2;
    }
    e->run(o, cp);
  } catch (const OutOfMemory& e) {
    // Everything the scenario held was released while the exception unwound.
    ttmem_flush(2000);
    std::fprintf(stderr, "ttmem sim: %s; lower --scale or use a larger --arch\n", e.what());
    return 2;
  } catch (const BadSpec& e) {
    std::fprintf(stderr, "ttmem sim: %s\n", e.what());
    return 2;
  }
  ttmem_flush(2000);
  return 0;
}

}  // namespace ttsim
