// The simulated tt-metal runtime against the real daemon: at every checkpoint of every scenario,
// the daemon's per-device, per-type figures equal the simulator's own statistics, exactly; each
// tracking path is shown to matter by disabling it.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <sys/stat.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/harness.h"
#include "ttshm/tt_shm.h"

namespace ttmem::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const json* FindDevice(const json& status, const std::string& id) {
  for (const auto& d : status["devices"])
    if (std::to_string(d["id"].get<uint32_t>()) == id) return &d;
  return nullptr;
}

// Differences between the simulator's checkpoint and the daemon's status, one line each.
std::vector<std::string> Diff(const json& cp, const json& status) {
  std::vector<std::string> out;
  auto compare = [&](const std::string& id, const json& want, const char* section) {
    const json* d = FindDevice(status, id);
    for (const char* t : kTypeKeys) {
      uint64_t wb = want[t]["used_bytes"], wn = want[t]["buffers"];
      uint64_t gb = d ? (*d)[section][t]["used_bytes"].get<uint64_t>() : 0;
      uint64_t gn = d ? (*d)[section][t]["buffers"].get<uint64_t>() : 0;
      if (wb != gb || wn != gn)
        out.push_back(std::string(cp["checkpoint"]) + ": device " + id + " " + section + "." + t +
                      ": sim " + std::to_string(wb) + " B / " + std::to_string(wn) + ", daemon " +
                      std::to_string(gb) + " B / " + std::to_string(gn));
    }
  };
  for (const auto& [id, usage] : cp["devices"].items()) {
    compare(id, usage, "memory");
    json zero = json::object();
    for (const char* t : kTypeKeys) zero[t] = {{"used_bytes", 0}, {"buffers", 0}};
    compare(id, cp["capture"].contains(id) ? cp["capture"][id] : zero, "capture_estimate");
  }
  return out;
}

struct SimRun {
  int exit_code = -1;
  std::vector<json> checkpoints;
  std::vector<json> fragmentation;  // the daemon's fragmentation reply at each checkpoint
  std::vector<json> statuses;
  std::string err;
};

// Runs `ttmem sim ARGS --checkpoints` against the daemon; at each checkpoint takes the daemon's
// status, then lets the simulator go on.
SimRun RunSim(const TempDir& dir, const Daemon& daemon, std::vector<std::string> args,
              const std::map<std::string, std::string>& env = {}) {
  std::vector<std::string> argv = {BinDir() + "/ttmem", "sim", "--socket", daemon.socket()};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--checkpoints");
  std::string err_path = dir.File("sim.stderr");
  // As for the stress clients (StartClient): a full ring waits up to 1 s for the daemon, so that
  // a loaded 2-core machine does not overflow the tests that expect no dropped event.
  std::map<std::string, std::string> all = {{"TTMEM_FULL_WAIT_US", "1000000"}};
  for (const auto& [k, v] : env) all[k] = v;
  Child c = Spawn(argv, all, true, true, err_path);
  SimRun run;
  for (;;) {
    std::string line = ReadLine(c.stdout_fd, 60s);
    if (line.empty()) break;
    json cp = json::parse(line, nullptr, false);
    EXPECT_FALSE(cp.is_discarded()) << line;
    if (cp.is_discarded()) break;
    EXPECT_EQ(cp["flush"], 0) << "ttmem_flush failed at " << cp["checkpoint"];
    run.checkpoints.push_back(cp);
    run.statuses.push_back(Status(daemon.socket()));
    run.fragmentation.push_back(Query(daemon.socket(), {{"cmd", "fragmentation"}}));
    EXPECT_EQ(::write(c.stdin_fd, "\n", 1), 1);
  }
  ::close(c.stdin_fd);
  ::close(c.stdout_fd);
  run.exit_code = Wait(c.pid, 60s);
  std::ifstream f(err_path);
  run.err.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return run;
}

uint64_t Used(const json& status, const std::string& device, const char* type) {
  const json* d = FindDevice(status, device);
  return d ? (*d)["memory"][type]["used_bytes"].get<uint64_t>() : 0;
}

void ExpectExactEverywhere(const SimRun& run, size_t min_checkpoints) {
  EXPECT_EQ(run.exit_code, 0) << run.err;
  ASSERT_GE(run.checkpoints.size(), min_checkpoints) << run.err;
  for (size_t i = 0; i < run.checkpoints.size(); ++i) {
    for (const auto& d : Diff(run.checkpoints[i], run.statuses[i])) ADD_FAILURE() << d;
    EXPECT_EQ(run.statuses[i]["counters"]["unknown_frees"], 0);
    EXPECT_EQ(run.statuses[i]["counters"]["duplicate_allocs"], 0);
    EXPECT_EQ(run.statuses[i]["counters"]["dropped_events"], 0);
  }
}

// The daemon's fragmentation view, computed from reported addresses and the announced bank
// geometry, against the simulator's allocators: per bank, bytes in use, free bytes and the
// largest free block, for every interleaved type at every checkpoint.
void ExpectFragmentationMatchesTheAllocators(const SimRun& run) {
  size_t compared = 0;
  for (size_t i = 0; i < run.checkpoints.size(); ++i) {
    const json& cp = run.checkpoints[i];
    for (const auto& d : run.fragmentation[i]["devices"]) {
      const std::string id = std::to_string(d["id"].get<int>());
      if (!cp["allocators"].contains(id)) continue;
      for (const auto& t : d["types"]) {
        const std::string type = t["type"];
        const json& a = cp["allocators"][id][type];
        const std::string where = std::string(cp["checkpoint"]) + " device " + id + " " + type;
        // The daemon knows a buffer's size, not its page size: it takes ceil(size / banks) per
        // bank where the allocator takes whole pages (ceil(pages / banks) * page). So each live
        // buffer may count up to one page (2 KiB tiles here; 32 KiB at most) less.
        const uint64_t buffers =
            (*FindDevice(run.statuses[i], id))["memory"][type]["buffers"].get<uint64_t>();
        const uint64_t slack = buffers * 32 * 1024;
        auto near = [&](const char* ours, const char* theirs) {
          const uint64_t x = t[ours].get<uint64_t>(), y = a[theirs].get<uint64_t>();
          EXPECT_LE(x > y ? x - y : y - x, slack)
              << where << ": " << ours << " " << x << " vs the allocator's " << y;
        };
        near("used_per_bank_bytes", "total_allocated_bytes");
        near("free_per_bank_bytes", "total_free_bytes");
        near("largest_free_block_bytes", "largest_free_block_bytes");
        EXPECT_LE(t["used_per_bank_bytes"].get<uint64_t>(),
                  a["total_allocated_bytes"].get<uint64_t>())
            << where << ": never more than the allocator";
        if (buffers == 0) {
          EXPECT_EQ(t["largest_free_block_bytes"], a["largest_free_block_bytes"]) << where;
        }
        ++compared;
      }
    }
  }
  EXPECT_GT(compared, 0u);
}

// Stock tt-metal without ttmem: the simulator publishes only tt-metal's shared-memory statistics
// (its libttmem is off); the daemon shows them, device by device, equal to the simulator's own
// figures at every checkpoint, and nothing once it exits.
TEST(SimShm, DaemonShowsTtMetalStatisticsOfAnUntrackedRuntime) {
  TempDir dir;
  Daemon daemon(dir);
  ASSERT_EQ(::mkdir(daemon.shm_dir().c_str(), 0700), 0);
  ASSERT_TRUE(daemon.Start());
  Child c = Spawn({BinDir() + "/ttmem-sim", "mesh_allocation", "--publish-shm", daemon.shm_dir(),
                   "--checkpoints"},
                  {{"TT_ALLOC_TRACKING_ENABLED", "0"}}, true, true, dir.File("sim.stderr"));
  size_t compared = 0;
  for (;;) {
    std::string line = ReadLine(c.stdout_fd, 60s);
    if (line.empty()) break;
    json cp = json::parse(line, nullptr, false);
    ASSERT_FALSE(cp.is_discarded()) << line;
    json s = Status(daemon.socket());
    for (const auto& [id, figures] : cp["devices"].items()) {
      const json* d = FindDevice(s, id);
      ASSERT_NE(d, nullptr) << cp["checkpoint"] << " device " << id << "\n" << s.dump(1);
      EXPECT_EQ((*d)["source"], "tt-metal-shm");
      for (const char* t : {"dram", "l1", "l1_small", "trace", "cb"})
        EXPECT_EQ((*d)["memory"][t]["used_bytes"], figures[t]["used_bytes"])
            << cp["checkpoint"] << " device " << id << " " << t;
      ++compared;
    }
    // The simulator maps its regions like tt-metal: its rows are tied to it (issue 13).
    for (const auto& p : s["processes"])
      if (p.value("source", "") == "tt-metal-shm") {
        EXPECT_FALSE(p.value("unverified", true)) << p.dump();
      }
    EXPECT_EQ(::write(c.stdin_fd, "\n", 1), 1);
  }
  ::close(c.stdin_fd);
  ::close(c.stdout_fd);
  EXPECT_EQ(Wait(c.pid, 60s), 0);
  EXPECT_GE(compared, 8u);
  // It exited cleanly: its slots are released and the totals back to zero.
  json after = Status(daemon.socket());
  for (const auto& d : after["devices"]) {
    EXPECT_EQ(d["memory"]["dram"]["used_bytes"], 0) << d.dump();
    EXPECT_TRUE(d["processes"].empty()) << d.dump();
  }
}

// The coverage check: a process that reports natively AND publishes tt-metal's statistics must
// show the same DRAM, L1, L1_SMALL and TRACE both ways. Runs mesh_allocation (1x2) with both on,
// holds it at the "ops" checkpoint for longer than the settle time, and returns the anomalies
// then, with the simulator's own figures at that checkpoint.
std::pair<json, json> CoverageAtOps(const std::map<std::string, std::string>& env) {
  TempDir dir;
  Daemon daemon(dir);
  EXPECT_EQ(::mkdir(daemon.shm_dir().c_str(), 0700), 0);
  EXPECT_TRUE(daemon.Start());
  std::map<std::string, std::string> all = {{"TT_ALLOC_TRACKING_ENABLED", "1"},
                                            {"TTMEM_SOCKET", daemon.socket()}};
  for (const auto& [k, v] : env) all[k] = v;
  Child c = Spawn({BinDir() + "/ttmem-sim", "mesh_allocation", "--mesh", "1x2", "--publish-shm",
                   daemon.shm_dir(), "--checkpoints"},
                  all, true, true, dir.File("sim.stderr"));
  json anomalies = json::array(), at_ops;
  for (;;) {
    std::string line = ReadLine(c.stdout_fd, 60s);
    if (line.empty()) break;
    json cp = json::parse(line, nullptr, false);
    if (cp["checkpoint"] == "ops") {
      at_ops = cp;
      // Longer than the settle time (3 s), polled: anomalies appear once they have lasted.
      for (int i = 0; i < 50 && anomalies.empty(); ++i) {
        std::this_thread::sleep_for(100ms);
        if (i >= 35) anomalies = Status(daemon.socket())["coverage_anomalies"];
      }
      json s = Status(daemon.socket());
      EXPECT_EQ(s["counters"]["coverage_anomalies"], s["coverage_anomalies"].size());
    }
    EXPECT_EQ(::write(c.stdin_fd, "\n", 1), 1);
  }
  ::close(c.stdin_fd);
  ::close(c.stdout_fd);
  EXPECT_EQ(Wait(c.pid, 60s), 0);
  return {anomalies, at_ops};
}

TEST(SimShm, NativeAndTtMetalFiguresAgreeWhenEveryPathIsTracked) {
  auto [anomalies, cp] = CoverageAtOps({});
  ASSERT_FALSE(cp.is_null());
  EXPECT_TRUE(anomalies.empty()) << anomalies.dump(1);
}

TEST(SimShm, AMissingPathIsACoverageAnomalyWithBothFigures) {
  // The mesh rule broken: backing buffers are reported under the MeshDevice's id (0), so chip 1
  // natively misses every mesh buffer while tt-metal's statistics count them.
  auto [anomalies, cp] = CoverageAtOps({{"TTMEM_INTEGRATION_BREAK", "mesh"}});
  ASSERT_FALSE(cp.is_null());
  bool dram = false;
  for (const auto& a : anomalies) {
    EXPECT_EQ(a["device"], 1) << a.dump();  // chip 0 gets the backing buffers under id 0
    if (a["type"] == "dram") {
      dram = true;
      EXPECT_EQ(a["native_bytes"], 0) << a.dump();
      EXPECT_EQ(a["tt_metal_bytes"], cp["devices"]["1"]["dram"]["used_bytes"]) << a.dump();
      EXPECT_GT(a["since_unix_ms"].get<uint64_t>(), 0u);
    }
  }
  EXPECT_TRUE(dram) << anomalies.dump(1);
}

// Attack: anyone can write a region file in /dev/shm naming another user's live process and the
// chip id it announced, to make ttmem claim that process's tracking is wrong. Only slots whose
// process maps the region (verified) are compared.
TEST(SimShm, AForgedRegionNamingAnotherProcessRaisesNoAnomaly) {
  TempDir dir;
  Daemon daemon(dir);
  ASSERT_EQ(::mkdir(daemon.shm_dir().c_str(), 0700), 0);
  ASSERT_TRUE(daemon.Start());
  Child c = Spawn({BinDir() + "/ttmem-sim", "matmul_multicore_reuse", "--checkpoints"},
                  {{"TT_ALLOC_TRACKING_ENABLED", "1"}, {"TTMEM_SOCKET", daemon.socket()}}, true,
                  true, dir.File("sim.stderr"));
  ASSERT_FALSE(ReadLine(c.stdout_fd, 60s).empty());  // "buffers": DRAM live, device announced
  json s = Status(daemon.socket());
  ASSERT_EQ(s["devices"].size(), 1u);
  const uint64_t chip = s["devices"][0]["unique_id"];
  const uint64_t now =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count());
  ttmem::ttshm::WriterProcess forged{c.pid, {512u << 20, 0, 0, 0, 0}, now, "ttmem-sim"};
  {
    std::ofstream f(daemon.shm_dir() + "/tt_device_" + std::to_string(chip) + "_memory",
                    std::ios::binary);
    f << ttmem::ttshm::EncodeRegion(3, chip, 0, {forged}, 0);
  }
  json anomalies = json::array();
  for (int i = 0; i < 45; ++i) {
    std::this_thread::sleep_for(100ms);
    if (i >= 35) anomalies = Status(daemon.socket())["coverage_anomalies"];
  }
  EXPECT_TRUE(anomalies.empty()) << anomalies.dump(1);
  for (;;) {  // let the simulator finish
    if (::write(c.stdin_fd, "\n", 1) != 1) break;
    if (ReadLine(c.stdout_fd, 60s).empty()) break;
  }
  ::close(c.stdin_fd);
  ::close(c.stdout_fd);
  EXPECT_EQ(Wait(c.pid, 60s), 0);
}

class Sim : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(daemon_.Start()) << daemon_.log(); }
  void ExpectNothingLeft() {
    EXPECT_GE(PollUntil(daemon_.socket(), 2s, AllDevicesEmpty).count(), 0)
        << Status(daemon_.socket()).dump(1);
  }
  TempDir dir_;
  Daemon daemon_{dir_};
};

TEST_F(Sim, MatmulMulticoreReuseShowsDramAndCbExactly) {
  for (const char* arch : {"wormhole_b0", "blackhole"}) {
    SimRun run = RunSim(dir_, daemon_, {"matmul_multicore_reuse", "--arch", arch});
    ExpectExactEverywhere(run, 4);
    ExpectFragmentationMatchesTheAllocators(run);
    ASSERT_GE(run.checkpoints.size(), 2u);
    ASSERT_EQ(run.checkpoints[1]["checkpoint"], "running");
    const json& running = run.statuses[1];
    EXPECT_EQ(Used(running, "0", "dram"), 3u * 2 * 1024 * 1024);
    EXPECT_GT(Used(running, "0", "cb"), 0u);
    EXPECT_GT(Used(running, "0", "kernel"), 0u);
    const json* d = FindDevice(running, "0");
    ASSERT_NE(d, nullptr);
    EXPECT_EQ((*d)["arch"], arch);
    EXPECT_TRUE((*d)["memory"]["dram"]["total_bytes"].is_number());
    ExpectNothingLeft();
  }
}

TEST_F(Sim, MeshAllocationTracksAllEightDevicesOnce) {
  SimRun run = RunSim(dir_, daemon_, {"mesh_allocation"});
  ExpectFragmentationMatchesTheAllocators(run);
  ExpectExactEverywhere(run, 3);
  const json* ops = nullptr;
  for (size_t i = 0; i < run.checkpoints.size(); ++i)
    if (run.checkpoints[i]["checkpoint"] == "ops") ops = &run.statuses[i];
  ASSERT_NE(ops, nullptr);
  EXPECT_EQ((*ops)["devices"].size(), 8u);
  for (int dev = 0; dev < 8; ++dev) {
    // a, b, c replicated 4 MiB each, d sharded 8 MiB over 8 devices: 13 MiB per device, once.
    EXPECT_EQ(Used(*ops, std::to_string(dev), "dram"), 13u * 1024 * 1024) << dev;
    EXPECT_EQ(Used(*ops, std::to_string(dev), "l1"), 256u * 1024) << dev;
    EXPECT_GT(Used(*ops, std::to_string(dev), "cb"), 0u) << dev;
  }
  ExpectNothingLeft();
}

TEST_F(Sim, MeshShapeFromTheCommandLine) {
  SimRun run = RunSim(dir_, daemon_, {"mesh_allocation", "--mesh", "1x2", "--arch", "blackhole"});
  ExpectExactEverywhere(run, 3);
  EXPECT_EQ(run.statuses[0]["devices"].size(), 2u);
  ExpectNothingLeft();
}

TEST_F(Sim, GraphCaptureIsShownApartAndUsesNoDeviceMemory) {
  SimRun run = RunSim(dir_, daemon_, {"graph_capture"});
  ExpectExactEverywhere(run, 4);
  const json* captured = nullptr;
  for (size_t i = 0; i < run.checkpoints.size(); ++i)
    if (run.checkpoints[i]["checkpoint"] == "captured") captured = &run.statuses[i];
  ASSERT_NE(captured, nullptr);
  const json* d = FindDevice(*captured, "0");
  ASSERT_NE(d, nullptr);
  // Inputs 4 + 2 MiB and the worker thread's 1 MiB cache are real; the op's 8 + 4 MiB are not.
  EXPECT_EQ((*d)["memory"]["dram"]["used_bytes"], 7u * 1024 * 1024);
  EXPECT_EQ((*d)["capture_estimate"]["dram"]["used_bytes"], 12u * 1024 * 1024);
  // The blocked program is not dispatched: nothing resident, and no estimate (docs/tt-metal.md).
  EXPECT_EQ((*d)["memory"]["cb"]["used_bytes"], 0u);
  EXPECT_EQ((*d)["capture_estimate"]["cb"]["used_bytes"], 0u);
  // NORMAL mode installs a hook too, but its 3 MiB buffer is real; after GraphTracker::clear()
  // ttmem's processor is back: the 2 MiB allocated then is counted (the checkpoints are exact).
  for (size_t i = 0; i < run.checkpoints.size(); ++i) {
    const json* dev = FindDevice(run.statuses[i], "0");
    ASSERT_NE(dev, nullptr);
    if (run.checkpoints[i]["checkpoint"] == "normal_capture") {
      EXPECT_EQ((*dev)["memory"]["dram"]["used_bytes"], 10u * 1024 * 1024);
      EXPECT_EQ((*dev)["capture_estimate"]["dram"]["used_bytes"], 0u);
      EXPECT_GT((*dev)["memory"]["cb"]["used_bytes"].get<uint64_t>(), 0u);
    }
    if (run.checkpoints[i]["checkpoint"] == "after_clear") {
      EXPECT_EQ((*dev)["memory"]["dram"]["used_bytes"], 12u * 1024 * 1024);
    }
  }
  auto text = RunCli({"status", "--socket", daemon_.socket()});
  EXPECT_EQ(text.exit_code, 0);
  ExpectNothingLeft();
}

TEST_F(Sim, ChurnFromThreadsIsExact) {
  SimRun run =
      RunSim(dir_, daemon_, {"churn", "--threads", "3", "--seconds", "1", "--mesh", "1x4"});
  ExpectExactEverywhere(run, 2);
  uint64_t buffers = 0;
  for (const auto& d : run.statuses[0]["devices"])
    for (const char* t : kTypeKeys) buffers += d["memory"][t]["buffers"].get<uint64_t>();
  EXPECT_GT(buffers, 0u);
  ExpectNothingLeft();
}

TEST_F(Sim, RepeatedRunsDoNotAccumulate) {
  for (int i = 0; i < 2; ++i) {
    SimRun run = RunSim(dir_, daemon_, {"matmul_multicore_reuse", "--repeat", "3"});
    ExpectExactEverywhere(run, 10);
    ExpectNothingLeft();
  }
  json s = Status(daemon_.socket());
  EXPECT_EQ(s["counters"]["unknown_frees"], 0);
  EXPECT_EQ(s["counters"]["live_buffers"], 0);
}

TEST_F(Sim, ChurnFromSeveralProcessesLeavesNothing) {
  std::vector<std::string> argv = {
      BinDir() + "/ttmem", "sim", "churn",  "--socket", daemon_.socket(), "--processes", "3",
      "--seconds",         "1",   "--mesh", "1x2"};
  Child c = Spawn(argv, {}, false, false, dir_.File("churn.stderr"));
  EXPECT_EQ(Wait(c.pid, 60s), 0);
  ExpectNothingLeft();
  EXPECT_EQ(Status(daemon_.socket())["counters"]["unknown_frees"], 0);
}

// Each processor rule is needed: with it broken (TTMEM_INTEGRATION_BREAK, the naive behaviour it
// replaced), the daemon's figures diverge from the simulator's own somewhere.
struct BrokenRule {
  const char* rule;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
};

void PrintTo(const BrokenRule& p, std::ostream* os) {
  *os << p.rule;
}

class SimBrokenRule : public Sim, public ::testing::WithParamInterface<BrokenRule> {};

TEST_P(SimBrokenRule, FiguresDiverge) {
  // First the rule intact: exact everywhere (so the divergence below is the rule's doing).
  {
    std::map<std::string, std::string> env = GetParam().env;
    env.erase("TTMEM_INTEGRATION_BREAK");
    SimRun run = RunSim(dir_, daemon_, GetParam().args, env);
    ExpectExactEverywhere(run, 2);
  }
  ExpectNothingLeft();
  SimRun run = RunSim(dir_, daemon_, GetParam().args, GetParam().env);
  EXPECT_EQ(run.exit_code, 0) << run.err;
  size_t diffs = 0;
  for (size_t i = 0; i < run.checkpoints.size(); ++i)
    diffs += Diff(run.checkpoints[i], run.statuses[i]).size();
  EXPECT_GT(diffs, 0u) << "breaking the " << GetParam().rule << " rule changed nothing";
}

INSTANTIATE_TEST_SUITE_P(
    Rules, SimBrokenRule,
    ::testing::Values(
        BrokenRule{
            "mesh", {"mesh_allocation", "--mesh", "1x2"}, {{"TTMEM_INTEGRATION_BREAK", "mesh"}}},
        BrokenRule{"hook", {"graph_capture"}, {{"TTMEM_INTEGRATION_BREAK", "hook"}}},
        BrokenRule{
            "view", {"mesh_allocation", "--mesh", "1x2"}, {{"TTMEM_INTEGRATION_BREAK", "view"}}},
        BrokenRule{"residency",
                   {"program_cache", "--programs", "5", "--mesh", "1x2"},
                   {{"TTMEM_INTEGRATION_BREAK", "residency"}}},
        BrokenRule{"threads",
                   {"churn", "--threads", "2", "--seconds", "0.5", "--mesh", "1x1"},
                   {{"TTMEM_INTEGRATION_BREAK", "threads"}}},
        BrokenRule{"clear", {"graph_capture"}, {{"TTMEM_INTEGRATION_BREAK", "clear"}}},
        BrokenRule{"shm-disabled",
                   {"matmul_multicore_reuse"},
                   {{"TTMEM_INTEGRATION_BREAK", "shm-disabled"},
                    {"TT_METAL_SHM_TRACKING_DISABLED", "1"}}}),
    [](const auto& param_info) {
      std::string n = param_info.param.rule;
      std::replace(n.begin(), n.end(), '-', '_');
      return n;
    });

// The proof of concept's processor, pushed on the calling thread only, misses worker threads.
TEST_F(Sim, ProcessorOnTheCallingThreadOnlyMissesWorkerThreads) {
  SimRun run = RunSim(dir_, daemon_,
                      {"churn", "--threads", "2", "--seconds", "0.5", "--mesh", "1x1", "--tracking",
                       "calling-thread"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  size_t diffs = 0;
  for (size_t i = 0; i < run.checkpoints.size(); ++i)
    diffs += Diff(run.checkpoints[i], run.statuses[i]).size();
  EXPECT_GT(diffs, 0u);
}

// The contract the issue names: while the cache holds, CB and KERNEL are the same for N = 1 and
// N = 100, and no type is over its capacity.
TEST_F(Sim, ProgramCacheShowsOnlyTheResidentProgram) {
  std::map<int, json> held;
  for (int n : {1, 100}) {
    SimRun run = RunSim(dir_, daemon_, {"program_cache", "--programs", std::to_string(n)});
    ExpectExactEverywhere(run, 3);
    for (size_t i = 0; i < run.checkpoints.size(); ++i)
      if (run.checkpoints[i]["checkpoint"] == "cached") held[n] = run.statuses[i];
    ExpectNothingLeft();
  }
  ASSERT_EQ(held.size(), 2u);
  for (const char* dev : {"0", "7"}) {
    const json* one = FindDevice(held[1], dev);
    const json* hundred = FindDevice(held[100], dev);
    ASSERT_TRUE(one && hundred);
    for (const char* t : {"cb", "kernel"}) {
      EXPECT_GT((*one)["memory"][t]["used_bytes"].get<uint64_t>(), 0u) << t;
      EXPECT_EQ((*one)["memory"][t]["used_bytes"], (*hundred)["memory"][t]["used_bytes"]) << t;
    }
  }
}

// `ttmem sim churn` never shows a type over its capacity (KERNEL was at 117 % when every cached
// program's binaries were summed).
TEST_F(Sim, ChurnNeverShowsATypeOverCapacity) {
  std::vector<std::string> argv = {BinDir() + "/ttmem",
                                   "sim",
                                   "churn",
                                   "--socket",
                                   daemon_.socket(),
                                   "--seconds",
                                   "3",
                                   "--mesh",
                                   "1x2",
                                   "--hold-ms",
                                   "60000"};
  Child c = Spawn(argv, {}, false, false, dir_.File("churn.stderr"));
  size_t looked = 0;
  for (int i = 0; i < 30; ++i) {
    std::this_thread::sleep_for(200ms);
    json st = Status(daemon_.socket());
    for (const auto& d : st["devices"])
      for (const char* t : kTypeKeys) {
        if (!d["memory"].contains(t) || !d["memory"][t].contains("total_bytes") ||
            d["memory"][t]["total_bytes"].is_null())
          continue;
        uint64_t cap = d["memory"][t]["total_bytes"], used = d["memory"][t]["used_bytes"];
        EXPECT_LE(used, cap) << "device " << d["id"] << " " << t;
        ++looked;
      }
  }
  ::kill(c.pid, SIGINT);
  EXPECT_EQ(Wait(c.pid, 60s), 0);
  EXPECT_GT(looked, 0u);
  ExpectNothingLeft();
}

// tt-metal's switch for its own statistics leaves ttmem's tracking on.
TEST_F(Sim, TrackingSurvivesTtMetalShmSwitchedOff) {
  SimRun run =
      RunSim(dir_, daemon_, {"matmul_multicore_reuse"}, {{"TT_METAL_SHM_TRACKING_DISABLED", "1"}});
  ExpectExactEverywhere(run, 3);
  ASSERT_FALSE(run.statuses.empty());
  EXPECT_GT(Used(run.statuses.front(), "0", "dram"), 0u);
}

TEST_F(Sim, OutOfMemoryIsClearExitsTwoAndLeavesNothing) {
  std::vector<std::string> argv = {
      BinDir() + "/ttmem", "sim", "matmul_multicore_reuse", "--socket", daemon_.socket(),
      "--scale",           "4000"};
  Child c = Spawn(argv, {}, false, false, dir_.File("oom.stderr"));
  EXPECT_EQ(Wait(c.pid, 60s), 2);
  std::ifstream f(dir_.File("oom.stderr"));
  std::string err((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_NE(err.find("device 0: Out of Memory: Not enough space to allocate"), std::string::npos)
      << err;
  EXPECT_NE(err.find("B DRAM buffer across 12 banks"), std::string::npos) << err;
  EXPECT_NE(err.find("largest free block: "), std::string::npos) << err;
  ExpectNothingLeft();
}

TEST_F(Sim, BadParametersExitTwoWithOneLine) {
  for (std::vector<std::string> args : {std::vector<std::string>{"bogus_scenario"},
                                        {"matmul_multicore_reuse", "--arch", "grayskull"},
                                        {"mesh_allocation", "--mesh", "0x4"},
                                        {"mesh_allocation", "--mesh", "2by4"},
                                        {"churn", "--threads", "0"},
                                        {"churn", "--checkpoints", "--processes", "2"},
                                        {}}) {
    std::vector<std::string> all = {"sim", "--socket", daemon_.socket()};
    all.insert(all.end(), args.begin(), args.end());
    CliResult r = RunCli(all);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find("ttmem sim:"), std::string::npos) << r.err;
  }
  ExpectNothingLeft();
}

}  // namespace
}  // namespace ttmem::test
