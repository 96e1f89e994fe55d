// ttmem against tt-metal's REAL shared-memory statistics writers, built by
// tests/tt-metal/build_shm_writer.sh (`ctest -L tt-metal`): main's v3 memory_stats_shm.cpp from
// the tree TT_METAL_HOME names (TTMEM_TT_METAL_SHM_WRITER) and the v4 files of PR #53721 when
// given (TTMEM_TT_METAL_SHM_WRITER_V4). Each layout is skipped, saying why, without its writer.
//
// Two chips, two writer processes (one exits normally, one is SIGKILLed mid-run): what `ttmem
// status --source shm` and the daemon show, `ttmem cleanup --shm`, then a new writer attaching;
// and the region ttmem's repair leaves, compared byte for byte with the one tt-metal leaves.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/harness.h"
#include "ttshm/tt_shm.h"

namespace ttmem::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace ts = ttmem::ttshm;

// The bytes of one file into another (created 0600, or overwritten in place).
void CopyFile(const std::string& from, const std::string& to) {
  std::ifstream in(from, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(bytes.size(), ts::kRegionSize) << from;
  std::ofstream out(to, std::ios::binary | std::ios::trunc);
  out << bytes;
  ASSERT_TRUE(out.good()) << to;
}

struct Writer {
  Child child;
  std::array<uint64_t, 5> sizes;
};

// The bytes of a region file.
std::string Bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Where two regions differ, by field ("processes[1].l1"), skipping the region's own timestamp
// (offset 8: the moment of the last change) and, with `free_slot_detail` false, the timestamp and
// name of a free slot (pid 0), which tt-metal's v3 writer leaves behind and nothing reads.
std::vector<std::string> Differences(const std::string& x, const std::string& y,
                                     bool free_slot_detail) {
  std::vector<std::string> out;
  if (x.size() != y.size()) return {fmt::format("size {} vs {}", x.size(), y.size())};
  static const char* kFigures[] = {"dram", "l1", "l1_small", "trace", "cb"};
  auto name = [](size_t off) -> std::string {
    if (off < ts::kOffTotals) {
      static const std::pair<size_t, const char*> kHeader[] = {
          {0, "version"},          {4, "num_active_processes"}, {8, "last_update_timestamp"},
          {16, "reference_count"}, {24, "board_serial"},        {32, "asic_id"},
          {40, "device_id"}};
      std::string n = "header";
      for (const auto& [at, field] : kHeader)
        if (off >= at) n = field;
      return n;
    }
    if (off < ts::kOffChips) return fmt::format("total_{}", kFigures[(off - ts::kOffTotals) / 8]);
    if (off < ts::kOffProcesses) {
      const size_t c = (off - ts::kOffChips) / ts::kChipSize,
                   in = (off - ts::kOffChips) % ts::kChipSize;
      return fmt::format("chip_stats[{}].{}", c,
                         in < 4   ? "chip_id"
                         : in < 8 ? "is_remote"
                                  : kFigures[(in - 8) / 8]);
    }
    if (off < ts::kOffInitState) {
      const size_t p = (off - ts::kOffProcesses) / ts::kProcessSize,
                   in = (off - ts::kOffProcesses) % ts::kProcessSize;
      return fmt::format("processes[{}].{}", p,
                         in < 8    ? "pid"
                         : in < 48 ? kFigures[(in - 8) / 8]
                         : in < 56 ? "last_update_timestamp"
                                   : "process_name");
    }
    return "init_state";
  };
  for (size_t off = 0; off < x.size(); ++off) {
    if (x[off] == y[off] || (off >= 8 && off < 16)) continue;
    if (!free_slot_detail && off >= ts::kOffProcesses && off < ts::kOffInitState) {
      const size_t slot =
          ts::kOffProcesses + (off - ts::kOffProcesses) / ts::kProcessSize * ts::kProcessSize;
      int32_t px, py;
      std::memcpy(&px, x.data() + slot, 4);
      std::memcpy(&py, y.data() + slot, 4);
      if (px == 0 && py == 0 && off - slot >= 48) continue;
    }
    const std::string n = name(off);
    if (out.empty() || out.back() != n) out.push_back(n);
  }
  return out;
}

// The writer binary of one layout, by the variable build_shm_writer.sh's caller sets.
struct Layout {
  const char* name;
  const char* env;
  int version;
};

void PrintTo(const Layout& l, std::ostream* os) {
  *os << l.name;
}

class RealWriter : public ::testing::TestWithParam<Layout> {
 protected:
  void SetUp() override {
    const char* w = std::getenv(GetParam().env);
    if (w == nullptr || ::access(w, X_OK) != 0)
      GTEST_SKIP() << "no tt-metal " << GetParam().name << " writer (" << GetParam().env
                   << "): run `ctest -L tt-metal` with TT_METAL_HOME set"
                   << (GetParam().version == 4 ? " and TTMEM_TT_METAL_V4_DIR naming PR #53721's "
                                                 "files (docs/tt-metal.md)"
                                               : "")
                   << "; tests/tt-metal/build_shm_writer.sh builds it";
    writer_ = w;
    // Chip ids of our own, so that nothing else in /dev/shm is involved.
    for (uint64_t i = 1; i <= 2; ++i) asics_.push_back(7'000'000'000ull + ::getpid() * 10ull + i);
    for (uint64_t a : asics_) std::remove(Path(a).c_str());
  }
  void TearDown() override {
    for (uint64_t a : asics_) std::remove(Path(a).c_str());
  }
  static std::string Path(uint64_t asic) {
    return fmt::format("/dev/shm/tt_device_{}_memory", asic);
  }
  Writer Start(const std::string& chips, std::array<uint64_t, 5> sizes) {
    std::vector<std::string> argv = {writer_, chips};
    for (uint64_t s : sizes) argv.push_back(std::to_string(s));
    Writer w{Spawn(argv, {}, true, true, dir_.File("writer.err")), sizes};
    EXPECT_EQ(ReadLine(w.child.stdout_fd, 10s), "ready");
    return w;
  }
  static void Exit(Writer& w) {
    ASSERT_EQ(::write(w.child.stdin_fd, "exit\n", 5), 5);
    EXPECT_EQ(Wait(w.child.pid, 10s), 0);
  }
  static void Kill(Writer& w) {
    ::kill(w.child.pid, SIGKILL);
    Wait(w.child.pid, 10s);
  }
  // The two-chip run: one writer on chips a and b, one on chip a that exits first; then the first
  // one is SIGKILLed (`kill`) or exits normally. Returns the regions' bytes.
  std::array<std::string, 2> Run(bool kill) {
    for (uint64_t a : asics_) std::remove(Path(a).c_str());
    Writer both = Start(fmt::format("{}:0,{}:1", asics_[0], asics_[1]),
                        {125'829'120, 1'048'576, 4096, 65536, 8192});
    Writer one = Start(fmt::format("{}:0", asics_[0]), {1'000'000, 2000, 0, 0, 512});
    Exit(one);
    if (kill)
      Kill(both);
    else
      Exit(both);
    return {Bytes(Path(asics_[0])), Bytes(Path(asics_[1]))};
  }
  // `ttmem cleanup --shm` on copies of `regions` (a directory of their own: the test never
  // touches other regions in /dev/shm). Returns the repaired bytes.
  std::array<std::string, 2> Cleanup(const std::array<std::string, 2>& regions) {
    TempDir cdir;
    for (int i = 0; i < 2; ++i) {
      std::ofstream(cdir.File(fmt::format("tt_device_{}_memory", asics_[i])), std::ios::binary)
          << regions[i];
    }
    auto run = RunCli({"cleanup", "--shm", "--shm-dir", cdir.path()});
    EXPECT_EQ(run.exit_code, 0) << run.err;
    return {Bytes(cdir.File(fmt::format("tt_device_{}_memory", asics_[0]))),
            Bytes(cdir.File(fmt::format("tt_device_{}_memory", asics_[1])))};
  }
  ts::Region Read(uint64_t asic) {
    ts::Region r;
    std::string error;
    EXPECT_TRUE(ts::ReadRegion(Path(asic), &r, &error)) << error;
    return r;
  }
  json ShmStatus(const std::string& dir) {
    auto r = RunCli({"status", "--source", "shm", "--shm-dir", dir, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out, nullptr, false);
  }
  static const json* Device(const json& s, uint64_t asic) {
    for (const auto& d : s["devices"])
      if (d["unique_id"] == asic) return &d;
    return nullptr;
  }
  std::string writer_;
  std::vector<uint64_t> asics_;
  TempDir dir_;
};

TEST_P(RealWriter, FiguresRepairAndReattach) {
  const char* kTypes[] = {"dram", "l1", "l1_small", "trace", "cb"};
  const uint64_t a = asics_[0], b = asics_[1];
  Writer killed =
      Start(fmt::format("{}:0,{}:1", a, b), {125'829'120, 1'048'576, 4096, 65536, 8192});
  Writer leaves = Start(fmt::format("{}:0", a), {1'000'000, 2000, 0, 0, 512});

  // Both live: the totals are the sums, one slot per writer, reference_count 2 on chip a. CB
  // comes through tt-metal's CB path, which stores the device's CB figure (not a delta) in the
  // totals and in the calling process's slot: compared per slot.
  json live = ShmStatus("/dev/shm");
  const json* da = Device(live, a);
  ASSERT_NE(da, nullptr) << live.dump(1);
  EXPECT_EQ(da->at("layout_version"), GetParam().version);
  for (int t = 0; t < 4; ++t)
    EXPECT_EQ(da->at("memory")[kTypes[t]]["used_bytes"], killed.sizes[t] + leaves.sizes[t])
        << kTypes[t];
  ASSERT_EQ(da->at("processes").size(), 2u);
  for (const auto& p : da->at("processes"))
    EXPECT_EQ(p["memory"]["cb"]["used_bytes"],
              p["pid"] == killed.child.pid ? killed.sizes[4] : leaves.sizes[4])
        << p.dump();
  EXPECT_EQ(Read(a).reference_count, 2u);

  // One exits normally (its provider releases its slot), one is SIGKILLed mid-run.
  Exit(leaves);
  ::kill(killed.child.pid, SIGKILL);
  Wait(killed.child.pid, 10s);
  json after = ShmStatus("/dev/shm");
  for (uint64_t asic : {a, b}) {
    const json* d = Device(after, asic);
    ASSERT_NE(d, nullptr);
    for (int t = 0; t < 4; ++t)
      EXPECT_EQ(d->at("memory")[kTypes[t]]["used_bytes"], killed.sizes[t]) << asic << kTypes[t];
    ASSERT_EQ(d->at("processes").size(), 1u);
    EXPECT_EQ(d->at("processes")[0]["memory"]["cb"]["used_bytes"], killed.sizes[4]);
    EXPECT_EQ(d->at("processes")[0]["pid"], killed.child.pid);
    EXPECT_TRUE(d->at("processes")[0]["stale"].get<bool>());
    EXPECT_EQ(Read(asic).reference_count, 1u);  // the killed writer's: v3 leaks it, v4 reaps it
                                                // when the next writer attaches
  }
  auto table = RunCli({"status", "--source", "shm", "--shm-dir", "/dev/shm"});
  EXPECT_NE(table.out.find("stale"), std::string::npos) << table.out;

  // The daemon merges the same regions (copied into its directory: a snapshot of the bytes).
  {
    TempDir ddir;
    Daemon daemon(ddir);
    ASSERT_TRUE(daemon.Start()) << daemon.log();
    ASSERT_EQ(::mkdir(daemon.shm_dir().c_str(), 0700), 0);
    for (uint64_t asic : {a, b})
      CopyFile(Path(asic), daemon.shm_dir() + fmt::format("/tt_device_{}_memory", asic));
    json s = Status(daemon.socket());
    for (uint64_t asic : {a, b}) {
      const json* d = Device(s, asic);
      ASSERT_NE(d, nullptr) << s.dump(1);
      EXPECT_EQ(d->at("source"), "tt-metal-shm");
      EXPECT_EQ(d->at("memory")["dram"]["used_bytes"], killed.sizes[0]);
    }
  }

  // ttmem cleanup --shm with tt-metal's reaper steps: the region ends idle. Run on our two regions
  // only (copied to a directory of their own and back: no writer is attached now), so that the
  // test never touches other regions in /dev/shm.
  TempDir cdir;
  for (uint64_t asic : {a, b})
    CopyFile(Path(asic), cdir.File(fmt::format("tt_device_{}_memory", asic)));
  auto run = RunCli({"cleanup", "--shm", "--shm-dir", cdir.path()});
  for (uint64_t asic : {a, b})
    CopyFile(cdir.File(fmt::format("tt_device_{}_memory", asic)), Path(asic));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find(std::to_string(killed.child.pid)), std::string::npos) << run.out;
  for (uint64_t asic : {a, b}) {
    ts::Region r = Read(asic);
    EXPECT_EQ(r.processes.size(), 0u);
    EXPECT_EQ(r.reference_count, 0u);
    EXPECT_EQ(r.num_active_processes, 0u);
    for (int t = 0; t < 5; ++t) EXPECT_EQ(r.totals[t], 0u) << asic << kTypes[t];
  }

  // A new writer attaches afterwards: only its own figures, one reference.
  Writer next = Start(fmt::format("{}:0", a), {4096, 0, 0, 0, 0});
  ts::Region r = Read(a);
  EXPECT_EQ(r.reference_count, 1u);
  EXPECT_EQ(r.totals[0], 4096u);
  ASSERT_EQ(r.processes.size(), 1u);
  EXPECT_EQ(r.processes[0].pid, next.child.pid);
  Exit(next);
  r = Read(a);
  EXPECT_EQ(r.reference_count, 0u);
  EXPECT_EQ(r.totals[0], 0u);
}

// After the last writer leaves, the region must end as tt-metal leaves it. A run whose writer is
// SIGKILLed and then repaired by `ttmem cleanup --shm` ends byte for byte as the same run whose
// writer exits normally (its destructor releasing its slot), apart from the region's timestamp
// and, in v3, the timestamp and name a released slot keeps.
TEST_P(RealWriter, RepairEndsAsTheWriterLeavesIt) {
  const auto clean = Run(false);
  const auto repaired = Cleanup(Run(true));
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(clean[i].size(), ts::kRegionSize);
    EXPECT_EQ(Differences(repaired[i], clean[i], false), std::vector<std::string>{})
        << "chip " << asics_[i];
  }
  for (const std::string& bytes : repaired) {
    uint32_t reference_count;
    uint64_t dram;
    std::memcpy(&reference_count, bytes.data() + 16, 4);
    std::memcpy(&dram, bytes.data() + ts::kOffTotals, 8);
    EXPECT_EQ(reference_count, 0u);
    EXPECT_EQ(dram, 0u);
  }
}

// v4 only: tt-metal's own reaper (the next process to attach releases the dead slot, resets the
// idle aggregates, and leaves again) and ttmem's repair, on the same bytes, give the same region
// byte for byte — free slots included — apart from the region's timestamp.
TEST_P(RealWriter, RepairEqualsTtMetalsReaper) {
  if (GetParam().version != 4) GTEST_SKIP() << "tt-metal's reaper exists in v4 only";
  const auto dead = Run(true);
  for (uint64_t asic : asics_) {
    const ts::Region r = Read(asic);
    ASSERT_EQ(r.reference_count, 1u) << asic;  // the killed writer's slot, not yet reaped
    ASSERT_EQ(r.processes.size(), 1u) << asic;
  }
  const auto ours = Cleanup(dead);
  // The regions in /dev/shm still hold `dead`: a v4 writer attaches to both chips and leaves.
  Writer reaper = Start(fmt::format("{}:0,{}:1", asics_[0], asics_[1]), {0, 0, 0, 0, 0});
  Exit(reaper);
  for (int i = 0; i < 2; ++i) {
    const std::string theirs = Bytes(Path(asics_[i]));
    EXPECT_NE(theirs, dead[i]) << "the reaper changed nothing";
    EXPECT_EQ(Differences(ours[i], theirs, true), std::vector<std::string>{})
        << "chip " << asics_[i];
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, RealWriter,
                         ::testing::Values(Layout{"v3", "TTMEM_TT_METAL_SHM_WRITER", 3},
                                           Layout{"v4", "TTMEM_TT_METAL_SHM_WRITER_V4", 4}),
                         [](const auto& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace ttmem::test
