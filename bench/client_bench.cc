// Benchmarks of the client hot path (with a live daemon, or disabled), the ledger, and the proof
// of concept's design as a baseline, measured side by side in one process. Run by bench/run.sh,
// which starts the daemon and runs this binary with tracking enabled and disabled.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <benchmark/benchmark.h>

#include "ledger/ledger.h"
#include "ttmem/ttmem.h"

namespace {

constexpr int kBurst = 2048;  // events per timed burst: alloc + free pairs, well inside a ring

// One burst of kBurst events (kBurst/2 alloc + free pairs) per iteration; between bursts, untimed,
// the daemon drains (ttmem_flush), so every burst fits the ring. Threads use disjoint ids.
void BM_HotPath(benchmark::State& state) {
  const uint64_t base = (uint64_t{static_cast<uint32_t>(state.thread_index())} << 40) + 1;
  const bool enabled = ttmem_enabled() != 0;
  uint64_t id = base;
  for (auto _ : state) {
    for (int i = 0; i < kBurst / 2; ++i, ++id) {
      ttmem_alloc(0, TTMEM_DRAM, id, 0x1000, 4096);
      ttmem_free(0, id);
    }
    if (enabled) {  // let the daemon drain between bursts; untimed (disabled: nothing to drain)
      state.PauseTiming();
      ttmem_flush(1000);
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations() * kBurst);
  state.counters["ns_per_event"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kBurst),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.SetLabel(enabled ? "enabled, live daemon" : "disabled");
}
BENCHMARK(BM_HotPath)->Threads(1)->Threads(2)->Threads(4)->UseRealTime();

// The same burst inside a scope (issue 17): every record then carries the thread's op. Measured
// beside BM_HotPath in the same run; the ratio is the cost of attribution.
void BM_HotPathInScope(benchmark::State& state) {
  ttmem_scope_push("ttnn::matmul");
  BM_HotPath(state);
  ttmem_scope_pop();
}
BENCHMARK(BM_HotPathInScope)->Threads(1)->UseRealTime();

// Entering and leaving a scope whose name is already interned (what every ttnn op costs).
void BM_ScopePushPop(benchmark::State& state) {
  ttmem_scope_push("ttnn::add");  // interned before timing
  ttmem_scope_pop();
  for (auto _ : state) {
    ttmem_scope_push("ttnn::add");
    ttmem_scope_pop();
  }
  state.SetLabel(ttmem_enabled() != 0 ? "enabled" : "disabled");
}
BENCHMARK(BM_ScopePushPop)->Threads(1)->Threads(2);

// The proof of concept: one blocking send() of a 112-byte struct per event, under a global mutex,
// to a server thread that updates a hash table under its own lock.
struct PocMessage {
  uint32_t type;
  uint32_t device;
  uint64_t buffer_id;
  uint64_t size;
  uint8_t buffer_type;
  uint8_t pad[87];
};
static_assert(sizeof(PocMessage) == 112);

class PocServer {
 public:
  PocServer() {
    ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds_);
    thread_ = std::thread([this] { Serve(); });
  }
  ~PocServer() {
    ::shutdown(fds_[0], SHUT_RDWR);
    thread_.join();
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  void Send(const PocMessage& m) {
    std::lock_guard<std::mutex> lock(send_mu_);
    const char* p = reinterpret_cast<const char*>(&m);
    size_t left = sizeof(m);
    while (left > 0) {
      ssize_t n = ::send(fds_[0], p, left, MSG_NOSIGNAL);
      if (n <= 0) return;
      p += n;
      left -= static_cast<size_t>(n);
    }
  }

 private:
  void Serve() {
    PocMessage m;
    for (;;) {
      size_t got = 0;
      while (got < sizeof(m)) {
        ssize_t n = ::recv(fds_[1], reinterpret_cast<char*>(&m) + got, sizeof(m) - got, 0);
        if (n <= 0) return;
        got += static_cast<size_t>(n);
      }
      std::lock_guard<std::mutex> lock(table_mu_);
      if (m.type == 1)
        table_[m.buffer_id] = m.size;
      else
        table_.erase(m.buffer_id);
    }
  }
  int fds_[2];
  std::mutex send_mu_, table_mu_;
  std::unordered_map<uint64_t, uint64_t> table_;
  std::thread thread_;
};

void BM_PocBaseline(benchmark::State& state) {
  static PocServer* server = nullptr;
  if (state.thread_index() == 0 && server == nullptr) server = new PocServer();
  const uint64_t base = (uint64_t{static_cast<uint32_t>(state.thread_index())} << 40) + 1;
  uint64_t id = base;
  PocMessage m{};
  for (auto _ : state) {
    for (int i = 0; i < kBurst / 2; ++i, ++id) {
      m.type = 1;
      m.buffer_id = id;
      m.size = 4096;
      server->Send(m);
      m.type = 2;
      server->Send(m);
    }
  }
  state.SetItemsProcessed(state.iterations() * kBurst);
  state.counters["ns_per_event"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kBurst),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_PocBaseline)->Threads(1)->Threads(2)->UseRealTime();

// The daemon's ledger: one alloc and one free, with a live set of 100,000 buffers.
void BM_LedgerAllocFree(benchmark::State& state) {
  ttmem::ledger::Ledger l;
  for (uint64_t i = 0; i < 100000; ++i) l.Alloc(1, 0, 0, i, 0, 4096);
  uint64_t id = 1 << 30;
  for (auto _ : state) {
    l.Alloc(1, 0, 0, id, 0, 4096);
    l.Free(1, 0, id);
    ++id;
  }
  state.SetItemsProcessed(state.iterations() * 2);
}
BENCHMARK(BM_LedgerAllocFree);

}  // namespace

BENCHMARK_MAIN();
