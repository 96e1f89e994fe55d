// stress_client — a real libttmem client for the integration tests. Threads allocate and free
// at random; buffer ids move between threads through a shared pool, so an id freed by one thread
// is often reused by another. The ttmem calls are made outside the pool's lock, so only the
// happens-before order that the lock gives (free, then release to the pool, then reuse) holds.
// After the threads join it writes the live set it expects the daemon to show (its ground truth)
// as JSON, then optionally holds until stdin closes.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "ttmem/ttmem.h"

namespace {

struct Buf {
  uint32_t device;
  uint64_t id;
  int type;
  uint64_t size;
};

}  // namespace

int main(int argc, char** argv) {
  uint32_t threads = 4, devices = 4, ids = 64;
  uint64_t ops = 20000, seed = 1;
  uint32_t flush_ms = 10000;
  uint32_t unknown_frees = 0, duplicate_allocs = 0, fork_children = 0;
  std::string truth_path;
  bool hold = false, announce = false;
  CLI::App app{"stress_client"};
  app.add_option("--threads", threads);
  app.add_option("--devices", devices);
  app.add_option("--ids", ids, "size of the shared id pool (small: much reuse)");
  app.add_option("--ops", ops, "operations per thread");
  app.add_option("--seed", seed);
  app.add_option("--unknown-frees", unknown_frees);
  app.add_option("--duplicate-allocs", duplicate_allocs);
  app.add_option("--fork-children", fork_children,
                 "fork this many children while the threads run; each reports 100 allocations "
                 "with ids the parent uses too, and exits without freeing them");
  app.add_option("--truth", truth_path)->required();
  app.add_option("--flush-ms", flush_ms, "how long ttmem_flush may wait");
  app.add_flag("--hold", hold, "after writing the truth, print 'ready' and wait for stdin EOF");
  app.add_flag("--announce", announce, "announce the devices with capacities");
  CLI11_PARSE(app, argc, argv);

  if (announce) {
    for (uint32_t d = 0; d < devices; ++d) {
      ttmem_device_info info = TTMEM_DEVICE_INFO_INIT;
      info.device = d;
      info.unique_id = 0x7e570000 + d;  // what tests put in tt-metal's statistics to match it
      std::snprintf(info.arch, sizeof(info.arch), "test_arch");
      for (int t = 0; t < TTMEM_MEM_TYPE_COUNT; ++t)
        info.capacity_bytes[t] = (1ull << 30) * (t + 1);
      ttmem_device_announce(&info);
    }
  }

  std::mutex mu;  // guards pool and live
  std::vector<uint64_t> pool;
  for (uint64_t i = 1; i <= ids; ++i) pool.push_back(i);
  std::vector<Buf> live;
  uint64_t batch = 0;
  auto worker = [&](uint32_t t) {
    std::mt19937_64 rng(seed * 1000003 + t + batch * 7919);
    for (uint64_t op = 0; op < ops; ++op) {
      bool alloc;
      Buf b{};
      {
        std::lock_guard<std::mutex> lock(mu);
        alloc = live.empty() || (!pool.empty() && rng() % 2 == 0);
        if (alloc) {
          if (pool.empty()) continue;
          size_t i = rng() % pool.size();
          b.id = pool[i];
          pool[i] = pool.back();
          pool.pop_back();
        } else {
          size_t i = rng() % live.size();
          b = live[i];
          live[i] = live.back();
          live.pop_back();
        }
      }
      if (alloc) {
        // The same id lives on one device at a time here; the device is chosen per allocation.
        b.device = static_cast<uint32_t>(rng() % devices);
        b.type = static_cast<int>(rng() % TTMEM_MEM_TYPE_COUNT);
        b.size = 1 + rng() % (1u << 20);
        ttmem_alloc(b.device, static_cast<ttmem_mem_type>(b.type), b.id, rng(), b.size);
        std::lock_guard<std::mutex> lock(mu);
        live.push_back(b);
      } else {
        ttmem_free(b.device, b.id);
        std::lock_guard<std::mutex> lock(mu);
        pool.push_back(b.id);
      }
    }
  };
  std::vector<std::thread> pool_threads;
  for (uint32_t t = 0; t < threads; ++t) pool_threads.emplace_back(worker, t);
  for (uint32_t i = 0; i < fork_children; ++i) {
    pid_t child = ::fork();
    if (child == 0) {
      // Only this thread exists here; it must report as the child, never into the parent's rings.
      for (uint64_t id = 1; id <= 100; ++id) ttmem_alloc(0, TTMEM_DRAM, id, 0, 4096);
      // Its counters are its own: nothing of the parent's (rings, log, drops) carried over.
      ttmem_stats st{};
      if (ttmem_get_stats(&st) != 0 || st.events_written != 100 || st.events_dropped != 0)
        ::_exit(5);
      ::_exit(ttmem_flush(10000) == 0 ? 0 : 3);
    }
    int st = 0;
    ::waitpid(child, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      std::fprintf(stderr, "stress_client: forked child failed (status %d)\n", st);
      return 4;
    }
  }
  for (auto& th : pool_threads) th.join();

  // Anomalies, in ids disjoint from the pool.
  for (uint32_t i = 0; i < unknown_frees; ++i) ttmem_free(0, (1ull << 40) + i);
  for (uint32_t i = 0; i < duplicate_allocs; ++i) {
    uint64_t id = (1ull << 41) + i;
    ttmem_alloc(0, TTMEM_DRAM, id, 0, 100);
    ttmem_alloc(0, TTMEM_DRAM, id, 0, 200);  // replaces the first: 200 bytes, one buffer
    live.push_back({0, id, TTMEM_DRAM, 200});
  }

  auto write_truth = [&]() {
    int flush_rc = ttmem_flush(flush_ms);
    ttmem_stats stats;
    ttmem_get_stats(&stats);
    nlohmann::json truth;
    truth["pid"] = ::getpid();
    truth["flush_rc"] = flush_rc;
    truth["events_written"] = stats.events_written;
    truth["events_dropped"] = stats.events_dropped;
    std::map<uint32_t, std::map<int, std::pair<uint64_t, uint64_t>>> usage;
    for (const Buf& b : live) {
      usage[b.device][b.type].first += b.size;
      usage[b.device][b.type].second += 1;
    }
    static const char* kKeys[] = {"dram",  "l1", "system_memory", "l1_small",
                                  "trace", "cb", "kernel"};
    nlohmann::json devs = nlohmann::json::object();
    for (const auto& [d, types] : usage)
      for (const auto& [t, u] : types)
        devs[std::to_string(d)][kKeys[t]] = {{"used_bytes", u.first}, {"buffers", u.second}};
    truth["devices"] = devs;
    std::ofstream(truth_path) << truth.dump(1);
    return flush_rc;
  };
  int flush_rc = write_truth();
  // --hold: print 'ready', then for every line on stdin run another batch of operations (the
  // daemon may have been killed, restarted or stopped meanwhile) and print 'ready' again; exit at
  // EOF.
  while (hold) {
    std::printf("ready\n");
    std::fflush(stdout);
    std::string line;
    if (!std::getline(std::cin, line)) break;
    if (line == "exec") {  // become another program, holding what was allocated (exec test)
      ::execl("/bin/sleep", "sleep", "5", static_cast<char*>(nullptr));
      return 5;
    }
    ++batch;
    std::vector<std::thread> again;
    for (uint32_t t = 0; t < threads; ++t) again.emplace_back(worker, t);
    for (auto& th : again) th.join();
    flush_rc = write_truth();
  }
  return flush_rc == 0 ? 0 : 3;
}
