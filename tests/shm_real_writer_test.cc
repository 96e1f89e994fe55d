// ttmem against tt-metal's REAL shared-memory statistics writer (memory_stats_shm.cpp from the
// tree TT_METAL_HOME names, built into tests/tt-metal/shm_writer by
// tests/tt-metal/build_shm_writer.sh; `ctest -L tt-metal`). Skipped, saying why, when
// TTMEM_TT_METAL_SHM_WRITER does not name that binary.
//
// Two chips, two writer processes (one exits normally, one is SIGKILLed mid-run): what `ttmem
// status --source shm` and the daemon show, `ttmem cleanup --shm`, then a new writer attaching.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
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

class RealWriter : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* w = std::getenv("TTMEM_TT_METAL_SHM_WRITER");
    if (w == nullptr || ::access(w, X_OK) != 0)
      GTEST_SKIP() << "no tt-metal writer: run `ctest -L tt-metal` with TT_METAL_HOME set "
                      "(tests/tt-metal/build_shm_writer.sh builds it)";
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

TEST_F(RealWriter, FiguresRepairAndReattach) {
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
  EXPECT_EQ(da->at("layout_version"), 3);  // tt-metal main's layout
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
    EXPECT_EQ(Read(asic).reference_count, 1u);  // the killed writer's, leaked by tt-metal v3
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

}  // namespace
}  // namespace ttmem::test
