// tt_metal_run_test.cc — ttmem inside real tt-metal processes (ctest label tt-metal-run).
//
// The probe (tests/tt-metal/probe.cc, built against the tree TT_METAL_HOME names, with the
// shell libttmem_tt_metal.so, by tests/tt-metal/run_tests.sh) runs real tt-metal on mock devices
// of a cluster descriptor: real allocators, buffers, mesh buffers, programs and CBs, and tt-metal's
// own statistics tracker. At every checkpoint each chip's figures are compared three ways:
//   - ttmem's status (the probe's process on the chip, per type) against what the probe holds;
//   - tt-metal's allocators (allocated per bank x banks) against the probe's holdings rounded by
//     the stated rule (tests/tt-metal/probe.cc, RoundedBytes);
//   - tt-metal's own statistics region of the chip (found by the unique id ttmem announced)
//     against ttmem; CB against tt-metal's Device::get_total_cb_allocated.
// The run script gives: TTMEM_TT_METAL_OUT (the probe and the shell), TTMEM_TT_METAL_RUNTIME (a
// writable copy of the tree's runtime root) and runs this binary in a private mount namespace
// with its own /dev/shm, where tt-metal's statistics regions are created.
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/harness.h"

namespace ttmem::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct Descriptor {
  const char* name;  // the test's suffix
  const char* file;  // UMD's example cluster descriptor
  int rows, cols;    // the mesh the probe opens
  // What the descriptor file says of each chip (issue 28): the PCIe device it is reached
  // through (chips_with_mmio, a remote chip through its board's MMIO chip) and its board.
  std::vector<uint32_t> pcie;
  const char* board_type;
};
const Descriptor kDescriptors[] = {
    {"N150", "wormhole_N150", 1, 1, {0}, "n150"},
    {"N300", "wormhole_N300", 1, 2, {0, 0}, "n300"},
    {"T3K", "t3k_cluster_desc", 2, 4, {0, 1, 3, 2, 0, 1, 3, 2}, "n300"},
    {"P150", "blackhole_P150", 1, 1, {0}, "p150"}};

std::string Required(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

const char* const kCompared[] = {"dram", "l1", "l1_small", "trace"};

uint64_t U(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number_unsigned()) return 0;
  return j[key].get<uint64_t>();
}

// What the probe's process holds on a chip in ttmem's status, per type.
const json* NativeDevice(const json& status, int id) {
  for (const json& d : status["devices"])
    if (d["id"] == id && !d.contains("source")) return &d;
  return nullptr;
}
uint64_t ProcessBytes(const json& device, int pid, const char* type) {
  for (const json& p : device["processes"])
    if (p["pid"] == pid && !p.contains("source")) return U(p["memory"][type], "used_bytes");
  return 0;
}
// tt-metal's statistics region with this chip id, as `ttmem status --source shm` reads it.
const json* Region(const json& shm, const json& unique_id) {
  for (const json& d : shm["devices"])
    if (d.contains("unique_id") && d["unique_id"] == unique_id) return &d;
  return nullptr;
}

enum class CbRule {
  kEqual,   // ttmem's CB equals tt-metal's figure (one program registered)
  kCached,  // a program cache: tt-metal merges every cached program, ttmem shows the resident
};

struct Compared {
  std::vector<std::string> diffs;
  size_t figures = 0;  // how many figures were compared
};

// The three comparisons of one checkpoint, every difference as a line.
Compared Compare(const json& cp, const json& status, const json& shm, CbRule cb_rule,
                 bool with_statistics) {
  Compared out;
  const int pid = cp["pid"];
  auto diff = [&](std::string s) { out.diffs.push_back(std::move(s)); };
  for (const json& chip : cp["chips"]) {
    const int id = chip["id"];
    const json* dev = NativeDevice(status, id);
    if (dev == nullptr) {
      // A chip is announced when the process first allocates on it: one it never used may be
      // absent, one it holds memory on may not.
      for (const auto& [key, bytes] : chip["exact"].items())
        if (bytes != 0)
          diff(fmt::format("chip {}: not in ttmem's status, the probe holds {} {} B", id, key,
                           bytes.dump()));
      continue;
    }
    const json* region = nullptr;
    if (with_statistics) {
      if (!dev->contains("unique_id") || (*dev)["unique_id"].is_null())
        diff(fmt::format("chip {}: ttmem knows no unique id for it", id));
      else if ((region = Region(shm, (*dev)["unique_id"])) == nullptr)
        diff(fmt::format("chip {}: no tt-metal statistics region has its unique id {}", id,
                         (*dev)["unique_id"].dump()));
      // The same chip must not be listed twice (once natively, once from its region).
      for (const json& d : status["devices"])
        if (d.contains("source") && d.contains("unique_id") &&
            d["unique_id"] == (*dev)["unique_id"])
          diff(fmt::format("chip {}: listed twice (its statistics region as device {})", id,
                           d["id"].dump()));
    }
    for (const char* type : kCompared) {
      const uint64_t ttmem = ProcessBytes(*dev, pid, type);
      const uint64_t held = U(chip["exact"], type);
      ++out.figures;
      if (ttmem != held)
        diff(fmt::format("chip {} {}: ttmem {} B, the probe holds {} B", id, type, ttmem, held));
      const uint64_t allocator = U(chip["allocator"], type), rounded = U(chip["rounded"], type);
      if (allocator != rounded)
        diff(fmt::format("chip {} {}: tt-metal's allocators {} B, the stated rounding gives {} B",
                         id, type, allocator, rounded));
      if (region != nullptr) {
        uint64_t theirs = 0;
        for (const json& p : (*region)["processes"])
          if (p["pid"] == pid) theirs = U(p["memory"][type], "used_bytes");
        // tt-metal's tracker does not ask the hook: a blocked allocation counts there.
        const uint64_t capture = U(chip["exact"], fmt::format("capture_{}", type).c_str());
        if (theirs != ttmem + capture)
          diff(
              fmt::format("chip {} {}: ttmem {} B (+{} B capture estimate), tt-metal's statistics "
                          "{} B",
                          id, type, ttmem, capture, theirs));
      }
      const uint64_t capture = U(chip["exact"], fmt::format("capture_{}", type).c_str());
      const uint64_t shown = U((*dev)["capture_estimate"][type], "used_bytes");
      if (capture != shown)
        diff(fmt::format("chip {} {}: capture estimate {} B, the probe made {} B", id, type, shown,
                         capture));
    }
    const uint64_t cb = ProcessBytes(*dev, pid, "cb"), resident = U(chip["exact"], "cb");
    const uint64_t tt_cb = chip["tt_metal_cb"];
    ++out.figures;
    if (cb != resident)
      diff(fmt::format("chip {} cb: ttmem {} B, the resident program reserves {} B", id, cb,
                       resident));
    const uint64_t kernel = ProcessBytes(*dev, pid, "kernel");
    if (kernel != U(chip["exact"], "kernel"))
      diff(fmt::format("chip {} kernel: ttmem {} B, the resident program's kernel text {} B", id,
                       kernel, U(chip["exact"], "kernel")));
    if (cb_rule == CbRule::kEqual ? tt_cb != cb : tt_cb < cb)
      diff(fmt::format("chip {} cb: ttmem {} B, tt-metal's Device::get_total_cb_allocated {} B", id,
                       cb, tt_cb));
  }
  if (U(status["counters"], "coverage_anomalies") != 0)
    diff("coverage anomalies: " + status["coverage_anomalies"].dump());
  return out;
}

// One probe process: stdin and stdout piped, its stderr (tt-metal's log) kept in a file.
class Probe {
 public:
  Probe(const TempDir& dir, const Daemon& daemon, const Descriptor& d, const std::string& which,
        std::map<std::string, std::string> env = {}, bool preload = true)
      : log_(dir.File(std::string("probe-") + which + ".log")) {
    const std::string out = Required("TTMEM_TT_METAL_OUT");
    const std::string root = Required("TTMEM_TT_METAL_RUNTIME");
    env.emplace("TT_METAL_RUNTIME_ROOT", root);
    env.emplace(
        "TT_METAL_MOCK_CLUSTER_DESC_PATH",
        root + "/tt_metal/third_party/umd/tests/cluster_descriptor_examples/" + d.file + ".yaml");
    env.emplace("TT_METAL_SLOW_DISPATCH_MODE", "1");
    env.emplace("TT_METAL_LOGGER_LEVEL", "Warning");
    env.emplace("TT_ALLOC_TRACKING_ENABLED", "1");
    env.emplace("TTMEM_SOCKET", daemon.socket());
    env.emplace("TTMEM_SNAPSHOT_DIR", dir.path());
    if (preload) env.emplace("LD_PRELOAD", out + "/libttmem_tt_metal.so");
    child_ = Spawn(
        {out + "/ttmem_tt_metal_probe", which, std::to_string(d.rows), std::to_string(d.cols)}, env,
        true, true, log_);
  }
  ~Probe() {
    if (child_.pid > 0) {
      ::kill(child_.pid, SIGKILL);
      Wait(child_.pid, std::chrono::seconds(10));
    }
    if (child_.stdin_fd >= 0) ::close(child_.stdin_fd);
    if (child_.stdout_fd >= 0) ::close(child_.stdout_fd);
  }
  pid_t pid() const { return child_.pid; }

  // The next checkpoint (true), or the end of the run (false: `done` holds DONE's code, or -1).
  bool Next(std::string* label, json* cp) {
    for (;;) {
      const std::string line = ReadLine(child_.stdout_fd, std::chrono::seconds(120));
      if (line.empty()) return false;
      if (line.rfind("CHECKPOINT ", 0) == 0) {
        const size_t sp = line.find(' ', 11);
        *label = line.substr(11, sp - 11);
        *cp = json::parse(line.substr(sp + 1));
        return true;
      }
      if (line.rfind("DONE ", 0) == 0) {
        done = std::stoi(line.substr(5));
        return false;
      }
    }
  }
  void Continue() {
    const char nl = '\n';
    ASSERT_EQ(::write(child_.stdin_fd, &nl, 1), 1);
  }
  int Finish() {
    const int rc = Wait(child_.pid, std::chrono::seconds(60));
    child_.pid = -1;
    return rc;
  }
  std::string Log() const {
    std::ifstream f(log_);
    std::string s((std::istreambuf_iterator<char>(f)), {});
    return s.size() > 4000 ? s.substr(s.size() - 4000) : s;
  }
  int done = -1;

 private:
  std::string log_;
  Child child_;
};

class TtMetalRun : public ::testing::TestWithParam<Descriptor> {
 protected:
  void SetUp() override {
    ASSERT_FALSE(Required("TTMEM_TT_METAL_OUT").empty())
        << "run through tests/tt-metal/run_tests.sh (it builds the probe and the shell)";
    // A private /dev/shm (this binary runs in a mount namespace of its own): tt-metal creates
    // its statistics regions there, and each test starts without any.
    for (const auto& e : fs::directory_iterator("/dev/shm"))
      if (e.path().filename().string().rfind("tt_device_", 0) == 0) fs::remove(e.path());
    daemon_.SetShmDir("/dev/shm");
    ASSERT_TRUE(daemon_.Start()) << daemon_.log();
  }
  json Shm() {
    CliResult r = RunCli({"status", "--source", "shm", "--shm-dir", "/dev/shm", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? json::parse(r.out) : json::object();
  }

  // Every chip ttmem lists natively sits where the descriptor file puts it (issue 28).
  std::vector<std::string> TopologyDiffs(const json& status) const {
    std::vector<std::string> out;
    const Descriptor& d = GetParam();
    for (const json& dev : status["devices"]) {
      if (dev.contains("source")) continue;  // a chip known from tt-metal's statistics only
      const uint32_t id = dev["id"];
      if (id >= d.pcie.size() || dev["pcie_id"] != d.pcie[id] ||
          dev["board_type"] != d.board_type || !dev["board_id"].is_number_unsigned() ||
          dev["mmio_device"].is_null())
        out.push_back(
            fmt::format("chip {}: announced at PCIe {} on a {} board {}, the descriptor "
                        "says PCIe {} on a {}",
                        id, dev["pcie_id"].dump(), dev["board_type"].dump(), dev["board_id"].dump(),
                        id < d.pcie.size() ? std::to_string(d.pcie[id]) : "?", d.board_type));
    }
    return out;
  }

  // Runs a case to its end, comparing at every checkpoint; returns every difference, each line
  // led by its checkpoint. `figures` counts the figures compared.
  std::vector<std::string> RunCase(const std::string& which, CbRule rule = CbRule::kEqual,
                                   std::map<std::string, std::string> env = {}, bool preload = true,
                                   size_t* figures = nullptr, bool with_statistics = true) {
    Probe probe(dir_, daemon_, GetParam(), which, std::move(env), preload);
    std::vector<std::string> all;
    std::string label;
    json cp;
    int checkpoints = 0;
    while (probe.Next(&label, &cp)) {
      ++checkpoints;
      const json status = Status(daemon_.socket());
      for (auto& d : TopologyDiffs(status)) all.push_back(label + ": " + d);
      Compared c = Compare(cp, status, Shm(), rule, with_statistics);
      for (auto& d : c.diffs) all.push_back(label + ": " + d);
      if (figures != nullptr) *figures += c.figures;
      probe.Continue();
    }
    EXPECT_EQ(probe.done, 0) << probe.Log();
    EXPECT_EQ(probe.Finish(), 0) << probe.Log();
    EXPECT_GT(checkpoints, 0) << probe.Log();
    // Gone with its process: nothing of it is left in ttmem's view.
    EXPECT_GE(PollUntil(daemon_.socket(), std::chrono::seconds(5),
                        [](const json& s) {
                          return s["processes"].empty() || s["processes"][0].contains("source");
                        })
                  .count(),
              0);
    return all;
  }

  TempDir dir_;
  Daemon daemon_{dir_};
};

std::string Lines(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& l : v) s += "  " + l + "\n";
  return s;
}

#define EXPECT_AGREES(diffs)                                  \
  do {                                                        \
    const auto d_ = (diffs);                                  \
    EXPECT_TRUE(d_.empty()) << "differences:\n" << Lines(d_); \
  } while (0)

TEST_P(TtMetalRun, BuffersOfEveryTypeAgreeWithTtMetal) {
  size_t figures = 0;
  EXPECT_AGREES(RunCase("buffers", CbRule::kEqual, {}, true, &figures));
  EXPECT_GE(figures, 3u * 5 * static_cast<size_t>(GetParam().rows * GetParam().cols));
}

TEST_P(TtMetalRun, MeshBuffersReplicatedAndShardedCountOncePerChip) {
  EXPECT_AGREES(RunCase("mesh"));
}

TEST_P(TtMetalRun, ThreadsBeforeAndAfterTheLibraryAreCounted) {
  EXPECT_AGREES(RunCase("threads"));
}

TEST_P(TtMetalRun, ALibraryLoadedLaterCountsEarlierThreads) {
  // Not preloaded: the probe starts a thread, then loads the shell (as `import ttmem.tt_metal`
  // does after `import ttnn`); with tt-metal's one processor list the thread is covered.
  EXPECT_AGREES(
      RunCase("threads", CbRule::kEqual,
              {{"TTMEM_PROBE_DLOPEN", Required("TTMEM_TT_METAL_OUT") + "/libttmem_tt_metal.so"}},
              /*preload=*/false));
}

TEST_P(TtMetalRun, GraphTrackerClearDoesNotLoseTracking) {
  // GraphTracker::clear() also removes tt-metal's own statistics processor, for good: from then
  // on its statistics miss what the process allocates and frees, and ttmem does not.
  EXPECT_AGREES(RunCase("clear", CbRule::kEqual, {}, true, nullptr, /*with_statistics=*/false));
  bool statistics_lost_it = false;
  for (const auto& d : RunCase("clear"))
    statistics_lost_it |= d.find("tt-metal's statistics 0 B") != std::string::npos;
  EXPECT_TRUE(statistics_lost_it) << "tt-metal's statistics kept counting after clear()?";
}

TEST_P(TtMetalRun, ABlockingHookIsACaptureEstimateAndANormalCaptureIsMemory) {
  EXPECT_AGREES(RunCase("hook"));
}

TEST_P(TtMetalRun, CbsOnOverlappingAndDisjointRangesEqualTtMetalsFigure) {
  EXPECT_AGREES(RunCase("cb"));
}

TEST_P(TtMetalRun, ACbFigureIsNeverLeftByAProgramNeverLaidOut) {
  EXPECT_AGREES(RunCase("stale"));
}

TEST_P(TtMetalRun, AProgramCacheShowsTheResidentProgramNotTheSum) {
  EXPECT_AGREES(RunCase("cache", CbRule::kCached));
}

TEST_P(TtMetalRun, AFinalizedProgramsKernelTextIsItsKernelFigure) {
  EXPECT_AGREES(RunCase("kernel"));
}

TEST_P(TtMetalRun, OpNamesFromTrackFunctionStartLabelTheBuffers) {
  Probe probe(dir_, daemon_, GetParam(), "ops");
  std::string label;
  json cp;
  ASSERT_TRUE(probe.Next(&label, &cp)) << probe.Log();
  EXPECT_AGREES(Compare(cp, Status(daemon_.socket()), Shm(), CbRule::kEqual, true).diffs);
  json b = Query(daemon_.socket(), {{"cmd", "buffers"}, {"pid", probe.pid()}, {"limit", 10}});
  std::map<uint64_t, std::string> op_of_size;
  for (const json& x : b["buffers"])
    op_of_size[x["size"]] = x["op"].is_null() ? "(none)" : x["op"].get<std::string>();
  EXPECT_EQ(op_of_size[96 * 1024], "ttnn::matmul") << b.dump();
  EXPECT_EQ(op_of_size[64 * 1024], "ttnn::prim::matmul") << b.dump();
  EXPECT_EQ(op_of_size[24 * 1024], "(none)") << b.dump();
  probe.Continue();
  while (probe.Next(&label, &cp)) probe.Continue();
  EXPECT_EQ(probe.Finish(), 0) << probe.Log();
}

TEST_P(TtMetalRun, TtMetalsOutOfMemoryErrorSavesTheSnapshot) {
  Probe probe(dir_, daemon_, GetParam(), "oom");
  std::string label;
  json cp;
  ASSERT_TRUE(probe.Next(&label, &cp)) << probe.Log();
  EXPECT_AGREES(Compare(cp, Status(daemon_.socket()), Shm(), CbRule::kEqual, true).diffs);
  probe.Continue();
  EXPECT_FALSE(probe.Next(&label, &cp));
  EXPECT_EQ(probe.Finish(), 128 + SIGABRT) << probe.Log();  // uncaught: std::terminate
  const std::string log = probe.Log();
  EXPECT_NE(log.find("Out of Memory: Not enough space to allocate"), std::string::npos) << log;
  EXPECT_NE(log.find("ttmem: snapshot saved to"), std::string::npos) << log;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir_.path()))
    if (e.path().filename().string().rfind("ttmem-oom-", 0) == 0) files.push_back(e.path());
  ASSERT_EQ(files.size(), 1u) << log;
  std::ifstream f(files[0]);
  const json snap = json::parse(f);
  EXPECT_NE(snap["reason"].get<std::string>().find("Out of Memory"), std::string::npos);
  std::map<uint64_t, std::string> held;
  for (const json& x : snap["buffers"])
    held[x["size"]] = x["op"].is_null() ? "(none)" : x["op"].get<std::string>();
  EXPECT_EQ(held.size(), 2u) << snap.dump();
  EXPECT_EQ(held[512 * 1024], "(none)");
  EXPECT_EQ(held[48 * 1024], "ttnn::conv2d");
  // The mesh's first chip (T3K's is device 4), the failing type first.
  const std::string first = fmt::format("L1 on device {}: pid {} holds 512.0 KiB",
                                        cp["chips"][0]["id"].get<int>(), cp["pid"].get<int>());
  EXPECT_NE(snap["summary"].get<std::string>().find("\n" + first), std::string::npos)
      << snap["summary"];
}

TEST_P(TtMetalRun, KillNineReclaimsTheProcesssMemory) {
  Probe probe(dir_, daemon_, GetParam(), "kill");
  std::string label;
  json cp;
  ASSERT_TRUE(probe.Next(&label, &cp)) << probe.Log();
  EXPECT_AGREES(Compare(cp, Status(daemon_.socket()), Shm(), CbRule::kEqual, true).diffs);
  const int pid = probe.pid();
  ::kill(pid, SIGKILL);
  EXPECT_EQ(probe.Finish(), 128 + SIGKILL);
  // Every chip's native figure back to 0, the process gone (tt-metal's v3 region keeps the dead
  // process's slot: shown apart, as stale).
  auto reclaimed = [&](const json& s) {
    for (const json& p : s["processes"])
      if (p["pid"] == pid && !p.contains("source")) return false;
    for (const json& d : s["devices"])
      if (!d.contains("source"))
        for (const char* t : {"dram", "l1", "cb"})
          if (ProcessBytes(d, pid, t) != 0) return false;
    return true;
  };
  EXPECT_GE(PollUntil(daemon_.socket(), std::chrono::seconds(5), reclaimed).count(), 0);
  const json s = Status(daemon_.socket());
  bool stale_seen = false;
  for (const json& p : s["processes"])
    if (p["pid"] == pid && p.contains("source")) stale_seen = p.value("stale", false);
  EXPECT_TRUE(stale_seen) << "tt-metal's region should still hold the dead process's slot: "
                          << s["processes"].dump();
}

// Each rule the simulator's broken-rule tests break (tests/sim_test.cc, SimBrokenRule), broken
// in a real run: the comparison must fail.
TEST_P(TtMetalRun, BrokenRulesFailTheComparison) {
  auto broken = [&](const char* rule, const char* which, CbRule cb = CbRule::kEqual,
                    std::map<std::string, std::string> env = {}, bool with_statistics = true) {
    env.emplace("TTMEM_INTEGRATION_BREAK", rule);
    return RunCase(which, cb, env, true, nullptr, with_statistics);
  };
  EXPECT_FALSE(broken("clear", "clear").empty());
  EXPECT_FALSE(broken("hook", "hook").empty());
  EXPECT_FALSE(broken("cb-union", "cb").empty());
  EXPECT_FALSE(broken("residency", "cache", CbRule::kCached).empty());
  EXPECT_FALSE(broken("shm-disabled", "buffers", CbRule::kEqual,
                      {{"TT_METAL_SHM_TRACKING_DISABLED", "1"}}, false)
                   .empty());
  // One chip: the MeshDevice's id is chip 0's, so the naive mesh rule is right by accident.
  if (GetParam().rows * GetParam().cols > 1) {
    EXPECT_FALSE(broken("mesh", "mesh").empty());
  }
}

// tt-metal's own statistics switched off: ttmem goes on (only the third comparison is left out).
TEST_P(TtMetalRun, TtMetalsStatisticsSwitchedOffLeaveTtmemExact) {
  EXPECT_AGREES(RunCase("buffers", CbRule::kEqual, {{"TT_METAL_SHM_TRACKING_DISABLED", "1"}}, true,
                        nullptr, /*with_statistics=*/false));
}

// The ThreadSanitizer run (ctest TtMetalRun.Tsan: the probe and the shell built with
// -fsanitize=thread) checks the thread and program cases; this shows it sees a race at all.
TEST_P(TtMetalRun, ThreadSanitizerSeesARaceInInstrumentedCode) {
  if (Required("TTMEM_TT_METAL_TSAN") != "1") GTEST_SKIP() << "only in the ThreadSanitizer run";
  Probe probe(dir_, daemon_, GetParam(), "race");
  std::string label;
  json cp;
  EXPECT_FALSE(probe.Next(&label, &cp));
  EXPECT_EQ(probe.Finish(), 66) << probe.Log();
  EXPECT_NE(probe.Log().find("ThreadSanitizer: data race"), std::string::npos) << probe.Log();
}

INSTANTIATE_TEST_SUITE_P(Mock, TtMetalRun, ::testing::ValuesIn(kDescriptors),
                         [](const auto& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace ttmem::test
