// Daemon-side benchmarks: memory per live buffer in the ledger and the state table; and, against a
// live ttmemd (TTMEM_SOCKET must point at it; bench/run.sh starts one), end-to-end ingest from real
// producer processes, status round trip at scale, event-to-visible latency and idle wakeups.
// Producers are forked children using libttmem like any application.
#include <malloc.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <benchmark/benchmark.h>

#include "cli/query.h"
#include "daemon/fragmentation.h"
#include "daemon/state_file.h"
#include "daemon/status_builder.h"
#include "ledger/ledger.h"
#include "ttmem/ttmem.h"

namespace {

size_t HeapInUse() {
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks +
         m.hblkhd;  // chunks in use, and those big enough to be mmapped (bucket arrays)
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
      l->Alloc(1, static_cast<uint32_t>(i % 32), 0, i, i * 4096, 4096, ttmem::ledger::Capture::kNo,
               ttmem::ledger::Replay::kNo, slot);
    }
    size_t heap = HeapInUse() - before;
    double slots = 32.0;  // the memfd slot per buffer (not on the heap)
    state.counters["heap_bytes_per_buffer"] = static_cast<double>(heap) / static_cast<double>(n);
    state.counters["bytes_per_buffer"] = static_cast<double>(heap) / static_cast<double>(n) + slots;
    delete l;
  }
}
BENCHMARK(BM_MemoryPerLiveBuffer)
    ->Arg(1000000)
    ->Arg(10000000)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

// The status document at the scale of BM_QueryAtScale, built in process: the daemon's own share
// of a status round trip (no socket, no drain).
void BM_BuildStatus(benchmark::State& state) {
  constexpr int kProcs = 256, kDevices = 32;
  constexpr uint64_t kBuffers = 1000000;
  ttmem::ledger::Ledger l;
  std::map<pid_t, ttmem::daemon::ProcessMeta> meta;
  for (int p = 0; p < kProcs; ++p) {
    const pid_t pid = 1000 + p;
    meta[pid] = {fmt::format("proc{}", p),
                 fmt::format("python3 run.py --proc {}", p),
                 1000,
                 "user",
                 "",
                 1700000000000,
                 0,
                 {},
                 {},
                 {}};
    for (uint64_t i = 0; i < kBuffers / kProcs; ++i)
      l.Alloc(pid, static_cast<uint32_t>(i % kDevices), i % 3 == 0 ? 1 : 0, i + 1, i * 8192, 4096);
  }
  ttmem::daemon::DaemonMeta dm;
  std::string out;  // reused, as the daemon reuses a connection's output buffer
  ttmem::daemon::StatusReplies replies;  // memo and model kept, as the daemon keeps them
  for (auto _ : state) {
    out.clear();
    // Arg 0: every process serialised afresh; 1: unchanged processes come from the cache.
    if (state.range(0) != 0)
      replies.Write(l, meta, dm, &out);
    else
      ttmem::model::WriteJson(ttmem::daemon::BuildStatus(l, meta, dm), &out);
  }
  const size_t bytes = out.size();
  state.counters["reply_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_BuildStatus)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// Fragmentation at the scale of issue 13's attack: 1024 announced devices, 300 k live buffers.
// Arg 0, the baseline: one walk over every live buffer for ONE device (what the daemon did per
// device before; the whole query did it 1024 times). Arg 1: every device in one walk (what it
// does now). The ratio that matters: 1024 x Arg 0 / Arg 1.
void BM_Fragmentation(benchmark::State& state) {
  constexpr uint32_t kDevices = 1024;
  constexpr uint64_t kBuffers = 300000;
  ttmem::ledger::Ledger l;
  for (uint32_t d = 0; d < kDevices; ++d) {
    ttmem::ledger::DeviceInfo info;
    info.arch = "wormhole_b0";
    info.capacity_bytes[0] = 12ull << 30;
    info.bank_count[0] = 12;
    info.capacity_bytes[1] = 64ull << 20;
    info.bank_count[1] = 64;
    info.bank_base[1] = 0x10000;
    l.SetDeviceInfo(d, info);
  }
  for (uint64_t i = 0; i < kBuffers; ++i)
    l.Alloc(1000 + static_cast<pid_t>(i % 64), static_cast<uint32_t>(i % kDevices), 0, i + 1,
            i * 4096, 4096);
  for (auto _ : state) {
    if (state.range(0) == 0) {
      // The per-device walk: every live buffer visited, one device's kept.
      std::vector<std::pair<uint64_t, uint64_t>> spans;
      for (const auto& [pid, p] : l.processes())
        for (const ttmem::ledger::LiveEntry& e : p.live)
          if (e.device == 7) spans.emplace_back(e.address, e.address + e.size / 12);
      std::sort(spans.begin(), spans.end());
      benchmark::DoNotOptimize(spans.data());
    } else {
      auto all = ttmem::daemon::ComputeFragmentationAll(l, 64);
      benchmark::DoNotOptimize(all.size());
    }
  }
}
BENCHMARK(BM_Fragmentation)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

struct IngestResult {
  uint64_t events = 0;
  uint64_t dropped = 0;
  double seconds = 0;
};

// Forks `producers` processes that report alloc + free pairs for `seconds`, in bursts of 2,048
// events; `paced` producers flush after each burst (backpressure: they never outrun the daemon),
// unpaced ones rely on the ring's bounded wait. Returns what the daemon applied (each producer's
// final flush must succeed) and what the producers dropped.
IngestResult RunProducers(int producers, double seconds, bool paced) {
  IngestResult r;
  int pipes[2];
  if (::pipe(pipes) != 0) return r;
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
        if (paced) ttmem_flush(1000);
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
  for (int p = 0; p < producers; ++p) {
    uint64_t in[2];
    if (::read(pipes[0], in, sizeof(in)) == static_cast<ssize_t>(sizeof(in))) {
      r.events += in[0];
      r.dropped += in[1];
    }
  }
  for (pid_t k : kids) ::waitpid(k, nullptr, 0);
  ::close(pipes[0]);
  ::close(pipes[1]);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

// A request's reply parsed (the benchmarks read a field or two of it).
bool JsonRequest(ttmem::cli::QueryClient& q, const std::string& request, nlohmann::json* reply,
                 std::string* error) {
  std::string text;
  if (!q.Request(request, &text, error)) return false;
  *reply = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  return reply->is_object();
}

bool NeedsDaemon(benchmark::State& state) {
  if (std::getenv("TTMEM_SOCKET") != nullptr && ttmem_enabled()) return true;
  state.SkipWithError("needs TT_ALLOC_TRACKING_ENABLED=1 and TTMEM_SOCKET (bench/run.sh)");
  return false;
}

// Sustained ingest from 4 producer processes into the live daemon; Arg(1) paced, Arg(0) not.
void BM_DaemonIngest(benchmark::State& state) {
  if (!NeedsDaemon(state)) return;
  for (auto _ : state) {
    IngestResult r = RunProducers(4, 2.0, state.range(0) != 0);
    state.SetIterationTime(r.seconds);
    state.counters["events_per_second"] = static_cast<double>(r.events) / r.seconds;
    state.counters["dropped"] = static_cast<double>(r.dropped);
  }
  state.SetLabel(state.range(0) != 0 ? "paced" : "unpaced");
}
BENCHMARK(BM_DaemonIngest)
    ->Arg(1)
    ->Arg(0)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kSecond);

std::string SelfDir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<size_t>(n));
  return p.substr(0, p.rfind('/'));
}

int64_t SqlInt(const std::string& db, const char* sql) {
  sqlite3* h = nullptr;
  int64_t v = -1;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(h, sql, -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
      v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
  }
  sqlite3_close(h);
  return v;
}

// `ttmem record` against the paced ingest of 2 producers at full speed: the same ingest alone
// first (the baseline of this run), then with a recorder subscribed. Reports the ingest rate in
// both, what the recorder stored per second of recording (to the end of its drain, before it
// builds its indices), what it lost (counted by the daemon), and how long the indices took.
void BM_RecordDuringIngest(benchmark::State& state) {
  if (!NeedsDaemon(state)) return;
  const std::string ttmem = SelfDir() + "/ttmem";
  const std::string db = fmt::format("/tmp/ttmem-bench-record-{}.sqlite", ::getpid());
  for (auto _ : state) {
    IngestResult alone = RunProducers(2, 2.0, true);
    for (const char* suffix : {"", "-wal", "-shm"}) ::unlink((db + suffix).c_str());
    pid_t rec = ::fork();
    if (rec == 0) {
      ::execl(ttmem.c_str(), "ttmem", "record", "--socket", std::getenv("TTMEM_SOCKET"), "-o",
              db.c_str(), "-q", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // subscribed by then
    auto t0 = std::chrono::steady_clock::now();
    IngestResult busy = RunProducers(2, 2.0, true);
    ::kill(rec, SIGINT);  // it drains what the daemon sent, then builds its indices
    // The recorder writes meta.ended_ns when its drain is done, before the indices.
    while (SqlInt(db, "SELECT COUNT(*) FROM meta WHERE key = 'ended_ns'") != 1)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const double rec_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto t1 = std::chrono::steady_clock::now();
    int st = 0;
    ::waitpid(rec, &st, 0);
    const double index_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    const int64_t recorded = SqlInt(db, "SELECT COUNT(*) FROM events");
    const int64_t lost = SqlInt(db,
                                "SELECT CAST(value AS INTEGER) FROM meta WHERE key = "
                                "'events_lost'");
    state.SetIterationTime(rec_s);
    state.counters["ingest_alone_Meps"] = static_cast<double>(alone.events) / alone.seconds / 1e6;
    state.counters["ingest_recorded_Meps"] = static_cast<double>(busy.events) / busy.seconds / 1e6;
    state.counters["applied_events"] = static_cast<double>(busy.events);
    state.counters["recorded_events"] = static_cast<double>(recorded);
    state.counters["lost_events"] = static_cast<double>(lost);
    state.counters["recorded_per_second"] = static_cast<double>(recorded) / rec_s;
    state.counters["index_seconds"] = index_s;
    state.counters["bytes_per_event"] =
        recorded > 0 ? static_cast<double>(SqlInt(db,
                                                  "SELECT page_count * page_size FROM "
                                                  "pragma_page_count, pragma_page_size")) /
                           static_cast<double>(recorded)
                     : 0;
  }
  for (const char* suffix : {"", "-wal", "-shm"}) ::unlink((db + suffix).c_str());
}
BENCHMARK(BM_RecordDuringIngest)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);

double Percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

// `ttmem status --json` round trip at scale: 256 processes (forked children, each a real client)
// hold 1,000,000 live buffers on 32 announced devices; every process uses every device. Then the
// same paced producer as BM_DaemonIngest runs twice for 2 s, alone and while this process queries
// back to back, to show whether queries stall ingest.
void BM_QueryAtScale(benchmark::State& state) {
  if (!NeedsDaemon(state)) return;
  constexpr int kProcs = 256, kDevices = 32;
  constexpr uint64_t kBuffers = 1000000;
  int ready[2], go[2];
  if (::pipe(ready) != 0 || ::pipe(go) != 0) return;
  std::vector<pid_t> kids;
  for (int p = 0; p < kProcs; ++p) {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(go[1]);
      for (uint32_t d = 0; d < kDevices; ++d) {
        ttmem_device_info info = TTMEM_DEVICE_INFO_INIT;
        info.device = d;
        info.unique_id = 0x1000 + d;
        std::snprintf(info.arch, sizeof info.arch, "wormhole_b0");
        info.capacity_bytes[TTMEM_DRAM] = 12ull << 30;
        info.capacity_bytes[TTMEM_L1] = 64ull * 1464 * 1024;
        info.num_cores = 64;
        ttmem_device_announce(&info);
      }
      const uint64_t n = kBuffers / kProcs + (static_cast<uint64_t>(p) < kBuffers % kProcs);
      for (uint64_t i = 0; i < n; ++i)
        ttmem_alloc(static_cast<uint32_t>(i % kDevices), i % 3 == 0 ? TTMEM_L1 : TTMEM_DRAM, i + 1,
                    (i / kDevices) * 8192, 4096);
      bool ok = ttmem_flush(60000) == 0;
      ssize_t w = ::write(ready[1], ok ? "y" : "n", 1);
      (void)w;
      char c;
      while (::read(go[0], &c, 1) > 0) {
      }
      ::_exit(0);
    }
    kids.push_back(pid);
  }
  ::close(go[0]);
  ::close(ready[1]);
  int ok = 0;
  for (int p = 0; p < kProcs; ++p) {
    char c = 0;
    if (::read(ready[0], &c, 1) == 1 && c == 'y') ++ok;
  }
  ::close(ready[0]);
  ttmem::cli::QueryClient q(std::getenv("TTMEM_SOCKET"));
  std::string payload, error;
  nlohmann::json status;
  if (ok != kProcs || !JsonRequest(q, R"({"cmd":"status"})", &status, &error) ||
      status["counters"]["live_buffers"] != kBuffers) {
    state.SkipWithError("the 256 processes did not all report (raise --max-connections-per-uid?)");
  } else {
    const std::string req = R"({"cmd":"status"})";
    std::vector<double> ms;
    for (auto _ : state) {
      auto t0 = std::chrono::steady_clock::now();
      if (!q.RequestRaw(req, &payload, &error)) break;
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      state.SetIterationTime(s);
      ms.push_back(s * 1e3);
    }
    state.counters["median_ms"] = Percentile(ms, 0.5);
    state.counters["p99_ms"] = Percentile(ms, 0.99);
    state.counters["reply_bytes"] = static_cast<double>(payload.size());
    // The same without the drain of 256 idle clients that precedes a status answer.
    std::vector<double> nodrain;
    for (int i = 0; i < 30 && q.RequestRaw(R"({"cmd":"status","drain":false})", &payload, &error);
         ++i) {
      auto t0 = std::chrono::steady_clock::now();
      if (!q.RequestRaw(R"({"cmd":"status","drain":false})", &payload, &error)) break;
      nodrain.push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() * 1e3);
    }
    state.counters["median_nodrain_ms"] = Percentile(nodrain, 0.5);
    // Ingest alone, then with back-to-back status queries from this process.
    IngestResult alone = RunProducers(1, 2.0, true);
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> queries{0};
    std::thread querier([&] {
      ttmem::cli::QueryClient q2(std::getenv("TTMEM_SOCKET"));
      std::string out, err;
      while (!stop.load() && q2.RequestRaw(req, &out, &err)) queries.fetch_add(1);
    });
    IngestResult busy = RunProducers(1, 2.0, true);
    stop.store(true);
    querier.join();
    state.counters["ingest_alone_Meps"] = static_cast<double>(alone.events) / alone.seconds / 1e6;
    state.counters["ingest_with_queries_Meps"] =
        static_cast<double>(busy.events) / busy.seconds / 1e6;
    state.counters["queries_during_ingest"] = static_cast<double>(queries.load());
    state.counters["dropped"] = static_cast<double>(alone.dropped + busy.dropped);
  }
  ::close(go[1]);
  for (pid_t k : kids) ::waitpid(k, nullptr, 0);
}
BENCHMARK(BM_QueryAtScale)->Iterations(30)->UseManualTime()->Unit(benchmark::kMillisecond);

uint64_t DeviceUsed(const nlohmann::json& status, uint32_t device) {
  for (const auto& d : status["devices"])
    if (d["id"] == device) return d["memory"]["dram"]["used_bytes"].get<uint64_t>();
  return 0;
}

// Another client's ping while snapshots of a 1,000,000-buffer process are asked for back to back
// from 4 connections (issue 26's target: p99 <= 50 ms), against the same pings with no flood,
// measured in the same run. A ping is due every 10 ms; its latency counts from when it was due.
// The flooders are this process (root where bench/run.sh runs: not rationed, so the worker is
// never idle; a non-root flood is also rationed, see Hostile.ASnapshotFlood...).
std::vector<double> PingsFor(ttmem::cli::QueryClient& q, double seconds) {
  std::vector<double> ms;
  std::string out, err;
  const auto t0 = std::chrono::steady_clock::now();
  const int n = static_cast<int>(seconds * 100);
  for (int k = 0; k < n;) {
    std::this_thread::sleep_until(t0 + std::chrono::milliseconds(10 * k));
    if (!q.RequestRaw(R"({"cmd":"ping"})", &out, &err)) break;
    const auto done = std::chrono::steady_clock::now();
    do {
      ms.push_back(
          std::chrono::duration<double, std::milli>(done - (t0 + std::chrono::milliseconds(10 * k)))
              .count());
      ++k;
    } while (k < n && t0 + std::chrono::milliseconds(10 * k) < done);
  }
  return ms;
}

void BM_PingUnderSnapshotFlood(benchmark::State& state) {
  if (!NeedsDaemon(state)) return;
  constexpr uint64_t kBuffers = 1000000;
  int ready[2], go[2];
  if (::pipe(ready) != 0 || ::pipe(go) != 0) return;
  const pid_t holder = ::fork();
  if (holder == 0) {
    ::close(go[1]);
    ttmem_device_info info = TTMEM_DEVICE_INFO_INIT;
    info.device = 7;
    std::snprintf(info.arch, sizeof info.arch, "wormhole_b0");
    info.capacity_bytes[TTMEM_DRAM] = 12ull << 30;
    info.bank_count[TTMEM_DRAM] = 12;
    ttmem_device_announce(&info);
    for (uint64_t i = 0; i < kBuffers; ++i) ttmem_alloc(7, TTMEM_DRAM, i + 1, i * 8192, 4096);
    const bool ok = ttmem_flush(120000) == 0;
    ssize_t w = ::write(ready[1], ok ? "y" : "n", 1);
    (void)w;
    char c;
    while (::read(go[0], &c, 1) > 0) {
    }
    ::_exit(0);
  }
  ::close(go[0]);
  ::close(ready[1]);
  char c = 0;
  const bool ok = ::read(ready[0], &c, 1) == 1 && c == 'y';
  ::close(ready[0]);
  ttmem::cli::QueryClient q(std::getenv("TTMEM_SOCKET"));
  if (!ok) {
    state.SkipWithError("the holder did not report its 1,000,000 buffers");
  } else {
    for (auto _ : state) {
      const std::vector<double> idle = PingsFor(q, 3.0);
      std::atomic<bool> stop{false};
      std::atomic<uint64_t> answered{0}, bytes{0};
      std::vector<std::thread> flood;
      const std::string req = fmt::format(R"({{"cmd":"snapshot","pid":{}}})", holder);
      for (int k = 0; k < 4; ++k)
        flood.emplace_back([&] {
          ttmem::cli::QueryClient fq(std::getenv("TTMEM_SOCKET"));
          std::string out, err;
          while (!stop.load() && fq.RequestRaw(req, &out, &err)) {
            answered.fetch_add(1);
            bytes.store(out.size());
          }
        });
      const std::vector<double> busy = PingsFor(q, 5.0);
      stop.store(true);
      for (auto& t : flood) t.join();
      state.SetIterationTime(5.0);
      state.counters["idle_p99_ms"] = Percentile(idle, 0.99);
      state.counters["flood_median_ms"] = Percentile(busy, 0.5);
      state.counters["flood_p99_ms"] = Percentile(busy, 0.99);
      state.counters["flood_max_ms"] = Percentile(busy, 1.0);
      state.counters["snapshots_per_s"] = static_cast<double>(answered.load()) / 5.0;
      state.counters["snapshot_bytes"] = static_cast<double>(bytes.load());
    }
  }
  ::close(go[1]);
  ::waitpid(holder, nullptr, 0);
}
BENCHMARK(BM_PingUnderSnapshotFlood)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);

// Event to visible: this process reports an allocation, then polls `status` with "drain": false
// (what the daemon's own periodic drain has applied; a plain status query drains first) every
// 100 us until it shows. Pauses of 0 to 1,000 ms before each sample catch the daemon at every
// tick rate, including idle (where the client's write wakes it).
void BM_EventToVisible(benchmark::State& state) {
  if (!NeedsDaemon(state)) return;
  ttmem_flush(5000);  // connected
  ttmem::cli::QueryClient q(std::getenv("TTMEM_SOCKET"));
  const std::string req = R"({"cmd":"status","drain":false})";
  const int pauses_ms[] = {0, 1, 10, 100, 1000};
  constexpr uint32_t kDevice = 1000;
  std::vector<double> ms;
  uint64_t id = 1ull << 50, i = 0;
  nlohmann::json status;
  std::string error;
  for (auto _ : state) {
    state.PauseTiming();
    std::this_thread::sleep_for(std::chrono::milliseconds(pauses_ms[i++ % 5]));
    state.ResumeTiming();
    const uint64_t size = 4096 + i;
    auto t0 = std::chrono::steady_clock::now();
    ttmem_alloc(kDevice, TTMEM_DRAM, ++id, 0, size);
    while (JsonRequest(q, req, &status, &error) && DeviceUsed(status, kDevice) != size)
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    ms.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() *
                 1e3);
    ttmem_free(kDevice, id);
  }
  state.counters["median_ms"] = Percentile(ms, 0.5);
  state.counters["p99_ms"] = Percentile(ms, 0.99);
  state.counters["max_ms"] = Percentile(ms, 1.0);
}
BENCHMARK(BM_EventToVisible)->Iterations(150)->Unit(benchmark::kMillisecond);

// How often an idle daemon wakes: its context switches over 5 s while this process stays
// connected and reports nothing.
void BM_IdleWakeups(benchmark::State& state) {
  if (!NeedsDaemon(state)) return;
  ttmem::cli::QueryClient q(std::getenv("TTMEM_SOCKET"));
  nlohmann::json status;
  std::string error;
  if (!JsonRequest(q, R"({"cmd":"status"})", &status, &error)) {
    state.SkipWithError(error.c_str());
    return;
  }
  const std::string path = fmt::format("/proc/{}/status", status["daemon"]["pid"].get<int>());
  auto switches = [&] {
    std::ifstream f(path);
    std::string line;
    uint64_t total = 0;
    while (std::getline(f, line))
      if (line.find("ctxt_switches:") != std::string::npos)
        total += std::stoull(line.substr(line.find(':') + 1));
    return total;
  };
  for (auto _ : state) {
    std::this_thread::sleep_for(std::chrono::seconds(2));  // let the tick back off
    uint64_t before = switches();
    auto t0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::chrono::seconds(5));
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.counters["wakeups_per_second"] = static_cast<double>(switches() - before) / s;
  }
}
BENCHMARK(BM_IdleWakeups)->Iterations(1)->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
