// Daemon-side benchmarks: memory per live buffer in the ledger and the state table, and end-to-end
// ingest from several real producer processes into a live ttmemd (TTMEM_SOCKET must point at it;
// bench/run.sh starts one). Producers are forked children using libttmem like any application.
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "daemon/state_file.h"
#include "ledger/ledger.h"
#include "ttmem/ttmem.h"

namespace {

size_t HeapInUse() {
  return mallinfo2().uordblks;
}

// Bytes of daemon memory per live buffer: the ledger's live table and totals plus the state table
// the daemon keeps for the client (its index and its slots in the memfd).
void BM_MemoryPerLiveBuffer(benchmark::State& state) {
  const uint64_t n = static_cast<uint64_t>(state.range(0));
  for (auto _ : state) {
    size_t before = HeapInUse();
    auto* l = new ttmem::ledger::Ledger();
    std::string error;
    auto table = ttmem::daemon::StateFile::Create(1, &error);
    for (uint64_t i = 0; i < n; ++i) {
      uint32_t slot = table->Put(ttmem::daemon::StateFile::kNoSlot, static_cast<uint32_t>(i % 32),
                                 i, ttmem::ledger::LiveBuffer{i * 4096, 4096, 0, 0, false});
      l->Alloc(1, static_cast<uint32_t>(i % 32), 0, i, i * 4096, 4096, false, true, slot);
    }
    size_t heap = HeapInUse() - before;
    double slots = 32.0;  // the memfd slot per buffer (not on the heap)
    state.counters["heap_bytes_per_buffer"] = static_cast<double>(heap) / static_cast<double>(n);
    state.counters["bytes_per_buffer"] = static_cast<double>(heap) / static_cast<double>(n) + slots;
    delete l;
  }
}
BENCHMARK(BM_MemoryPerLiveBuffer)->Arg(1000000)->Iterations(1)->Unit(benchmark::kMillisecond);

// Producers: each child reports alloc + free pairs in bursts of 2,048 events for `seconds`,
// flushing between bursts so nothing overflows; the parent times the whole run.
void BM_DaemonIngest(benchmark::State& state) {
  if (std::getenv("TTMEM_SOCKET") == nullptr || !ttmem_enabled()) {
    state.SkipWithError("needs TT_ALLOC_TRACKING_ENABLED=1 and TTMEM_SOCKET (bench/run.sh)");
    return;
  }
  const int producers = static_cast<int>(state.range(0));
  const double seconds = 2.0;
  for (auto _ : state) {
    int pipes[2];
    if (::pipe(pipes) != 0) return;
    auto start = std::chrono::steady_clock::now();
    std::vector<pid_t> kids;
    for (int p = 0; p < producers; ++p) {
      pid_t pid = ::fork();
      if (pid == 0) {
        uint64_t id = 1, events = 0;
        auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
        while (std::chrono::steady_clock::now() < until) {
          for (int i = 0; i < 1024; ++i, ++id) {
            ttmem_alloc(static_cast<uint32_t>(id % 32), TTMEM_DRAM, id, 0, 4096);
            ttmem_free(static_cast<uint32_t>(id % 32), id);
          }
          events += 2048;
          ttmem_flush(1000);
        }
        int ok = ttmem_flush(10000);
        ttmem_stats st;
        ttmem_get_stats(&st);
        uint64_t out[2] = {ok == 0 ? events : 0, st.events_dropped};
        ssize_t w = ::write(pipes[1], out, sizeof(out));
        (void)w;
        ::_exit(0);
      }
      kids.push_back(pid);
    }
    uint64_t total = 0, dropped = 0;
    for (int p = 0; p < producers; ++p) {
      uint64_t in[2];
      if (::read(pipes[0], in, sizeof(in)) == static_cast<ssize_t>(sizeof(in))) {
        total += in[0];
        dropped += in[1];
      }
    }
    for (pid_t k : kids) ::waitpid(k, nullptr, 0);
    ::close(pipes[0]);
    ::close(pipes[1]);
    double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    state.SetIterationTime(elapsed);
    state.counters["events_per_second"] = static_cast<double>(total) / elapsed;
    state.counters["dropped"] = static_cast<double>(dropped);
  }
}
BENCHMARK(BM_DaemonIngest)->Arg(4)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
