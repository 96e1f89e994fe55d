// ttmem-sim — the built-in demo workload: simulated devices that announce their capacities and
// threads that allocate and free DRAM, L1, CB and kernel memory through libttmem, with buffer
// ids handed between threads (a freed id is reused by whichever thread allocates next).
// Issue 3 replaces this with a model of tt-metal's allocation paths.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "ttmem/ttmem.h"

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) {
  g_stop = true;
}

struct Arch {
  const char* name;
  uint64_t dram;
  uint32_t cores;
  uint64_t l1_per_core;
};
// Public figures (shared/TT_METAL_FACTS.md): Wormhole B0 12 banks x 1 GiB DRAM, 8x8 compute grid,
// 1,499,136 B L1 per core; Blackhole 8 banks x 4,278,190,080 B, 130 compute cores, 1.5 MiB L1.
constexpr Arch kWormhole{"wormhole_b0", 12ull << 30, 64, 1499136};
constexpr Arch kBlackhole{"blackhole", 8ull * 4278190080ull, 130, 1572864};

struct Live {
  uint32_t device;
  uint64_t id;
};

}  // namespace

int main(int argc, char** argv) {
  uint32_t devices = 8, threads = 2;
  double seconds = 0;
  std::string arch_name = "wormhole_b0";
  uint64_t seed = 1;
  CLI::App app{"ttmem-sim: a simulated workload reporting to ttmemd"};
  app.add_option("--devices", devices)->check(CLI::Range(1u, 64u));
  app.add_option("--threads", threads)->check(CLI::Range(1u, 64u));
  app.add_option("--seconds", seconds)->check(CLI::Range(0.0, 86400.0));
  app.add_option("--arch", arch_name)->check(CLI::IsMember({"wormhole_b0", "blackhole"}));
  app.add_option("--seed", seed);
  CLI11_PARSE(app, argc, argv);
  if (!ttmem_enabled()) {
    std::fprintf(stderr,
                 "ttmem-sim: tracking is off: set TT_ALLOC_TRACKING_ENABLED=1 (ttmem sim "
                 "does this for you)\n");
    return 2;
  }
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  const Arch& arch = arch_name == "blackhole" ? kBlackhole : kWormhole;
  for (uint32_t d = 0; d < devices; ++d) {
    ttmem_device_info info = TTMEM_DEVICE_INFO_INIT;
    info.device = d;
    std::snprintf(info.arch, sizeof(info.arch), "%s", arch.name);
    info.num_cores = arch.cores;
    info.capacity_bytes[TTMEM_DRAM] = arch.dram;
    info.capacity_bytes[TTMEM_L1] = arch.l1_per_core * arch.cores;
    info.capacity_bytes[TTMEM_CB] = arch.l1_per_core * arch.cores;  // CBs live in L1
    info.capacity_bytes[TTMEM_L1_SMALL] = 32768ull * arch.cores;
    info.capacity_bytes[TTMEM_TRACE] = 64ull << 20;
    info.capacity_bytes[TTMEM_KERNEL] = 69632ull * arch.cores;  // kernel-config region per core
    ttmem_device_announce(&info);
  }
  ttmem_set_tag("demo");

  std::mutex mu;  // guards live and next_id: ids move between threads through it
  std::vector<Live> live;
  std::vector<uint64_t> free_ids;
  uint64_t next_id = 1;
  auto start = std::chrono::steady_clock::now();
  auto worker = [&](uint32_t t) {
    std::mt19937_64 rng(seed * 7919 + t);
    while (!g_stop) {
      double elapsed =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (seconds > 0 && elapsed >= seconds) break;
      // The working set breathes: its target size follows a slow wave.
      size_t target = static_cast<size_t>(200 + 150 * std::sin(elapsed / 5.0)) * devices / 2;
      std::unique_lock<std::mutex> lock(mu);
      bool do_alloc = live.size() < target ? rng() % 4 != 0 : rng() % 4 == 0;
      if (do_alloc || live.empty()) {
        uint64_t id;
        if (!free_ids.empty() && rng() % 2 == 0) {
          id = free_ids.back();
          free_ids.pop_back();
        } else {
          id = next_id++;
        }
        uint32_t dev = static_cast<uint32_t>(rng() % devices);
        int kind = static_cast<int>(rng() % 10);
        ttmem_mem_type type = kind < 5   ? TTMEM_DRAM
                              : kind < 8 ? TTMEM_L1
                              : kind < 9 ? TTMEM_CB
                                         : TTMEM_KERNEL;
        uint64_t size = type == TTMEM_DRAM     ? (1 + rng() % 64) << 20
                        : type == TTMEM_KERNEL ? (4 + rng() % 60) << 10
                                               : (8 + rng() % 512) << 10;
        ttmem_alloc(dev, type, id, 0x10000 + (id << 12), size);
        live.push_back({dev, id});
      } else {
        size_t i = rng() % live.size();
        Live l = live[i];
        live[i] = live.back();
        live.pop_back();
        ttmem_free(l.device, l.id);
        free_ids.push_back(l.id);
      }
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  };
  std::vector<std::thread> pool;
  for (uint32_t t = 0; t < threads; ++t) pool.emplace_back(worker, t);
  for (auto& th : pool) th.join();
  for (const Live& l : live) ttmem_free(l.device, l.id);
  int rc = ttmem_flush(2000);
  ttmem_stats stats;
  ttmem_get_stats(&stats);
  std::fprintf(stderr, "ttmem-sim: done: %llu events written, %llu dropped, flush %s\n",
               static_cast<unsigned long long>(stats.events_written),
               static_cast<unsigned long long>(stats.events_dropped), rc == 0 ? "ok" : "timed out");
  return 0;
}
