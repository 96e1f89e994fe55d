// `ttmem status --source shm`: tt-metal's shared-memory statistics written by a writer of ours in
// both layouts, beside a crashed writer's leftovers, a foreign version, a truncated file, an
// initialising region and garbage — read without a daemon, never a crash, stale pids marked.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <thread>

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

void Write(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string Comm() {
  std::ifstream f("/proc/self/comm");
  std::string s;
  std::getline(f, s);
  return s;
}

pid_t DeadPid() {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

TEST(ShmSource, BothLayoutsLeftoversAndGarbage) {
  TempDir dir;
  const uint64_t now =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count());
  const pid_t me = ::getpid(), dead = DeadPid();
  // v4, ready: this process (alive) and a crashed writer's slot (dead pid), one slot releasing.
  Write(dir.File("tt_device_1234_memory"),
        ts::EncodeRegion(4, 1234, 0,
                         {{me, {100, 20, 3, 0, 7}, now, Comm()},
                          {dead, {5000, 0, 0, 0, 0}, now - 1000000000ull, "crashed"},
                          {-1, {1, 1, 1, 1, 1}, now, "releasing"}},
                         ts::kReady));
  // v3 (no init_state): device 1.
  Write(dir.File("tt_device_5678_memory"),
        ts::EncodeRegion(3, 5678, 1, {{me, {64, 0, 0, 4096, 0}, now, Comm()}}, 0));
  // What must be skipped, each with a reason.
  // Version 2 (tt-metal main, April 2026): version 3's offsets, read as such: device 6.
  Write(dir.File("tt_device_6_memory"),
        ts::EncodeRegion(2, 6, 6, {{me, {32, 0, 0, 0, 0}, now, Comm()}}, 0));
  Write(dir.File("tt_device_2_memory"), ts::EncodeRegion(1, 2, 2, {}, 0));           // foreign
  Write(dir.File("tt_device_5_memory"), ts::EncodeRegion(5, 5, 5, {}, ts::kReady));  // newer
  Write(dir.File("tt_device_3_memory"), ts::EncodeRegion(4, 3, 3, {}, ts::kReady).substr(0, 100));
  Write(dir.File("tt_device_4_memory"), ts::EncodeRegion(4, 4, 4, {}, 1));  // initialising
  Write(dir.File("unrelated_file"), "hello");
  // Garbage with a valid header: random slots must not crash or go negative.
  std::string garbage = ts::EncodeRegion(4, 9, 9, {}, ts::kReady);
  std::mt19937_64 rng(7);
  for (size_t i = 48; i < ts::kOffInitState; ++i) garbage[i] = static_cast<char>(rng());
  Write(dir.File("tt_device_9_memory"), garbage);

  auto r = RunCli({"status", "--source", "shm", "--shm-dir", dir.path(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json s = json::parse(r.out);
  EXPECT_EQ(s["source"], "tt-metal-shm");
  EXPECT_EQ(s["problems"].size(), 4u) << s["problems"].dump(1);
  EXPECT_NE(r.err.find("layout version 1 "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("layout version 5 "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("still initialising"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("100 bytes"), std::string::npos) << r.err;
  ASSERT_EQ(s["devices"].size(), 4u);  // 1234 (v4), 5678 (v3), 6 (v2), 9 (garbage, read as such)
  const json* d0 = nullptr;
  for (const auto& d : s["devices"])
    if (d["unique_id"] == 1234) d0 = &d;
  ASSERT_NE(d0, nullptr);
  EXPECT_EQ((*d0)["layout_version"], 4);
  EXPECT_EQ((*d0)["memory"]["dram"]["used_bytes"], 5100);          // the totals as published
  EXPECT_TRUE((*d0)["memory"]["kernel"]["used_bytes"].is_null());  // tt-metal does not count it
  ASSERT_EQ((*d0)["processes"].size(), 2u);  // the releasing slot is not a process
  for (const auto& p : s["processes"]) {
    if (p["pid"] == me) {
      EXPECT_FALSE(p["stale"].get<bool>());
      EXPECT_EQ(p["memory"]["dram"]["used_bytes"], 196);  // all three devices
      EXPECT_EQ(p["devices"], json::array({0, 1, 6}));
    }
    if (p["pid"] == dead) {
      EXPECT_TRUE(p["stale"].get<bool>());
      EXPECT_EQ(p["stale_reason"], "no such process");
    }
    for (const auto& [k, m] : p["memory"].items())
      if (m["used_bytes"].is_number()) {
        EXPECT_TRUE(m["used_bytes"].is_number_unsigned()) << k;
      }
  }
  // The table says where the figures come from.
  auto table = RunCli({"status", "--source", "shm", "--shm-dir", dir.path()});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("tt-metal's shared-memory statistics"), std::string::npos) << table.out;
  // A missing directory: one clear line and the usage exit code (issue 13: it exited 0).
  auto none = RunCli({"status", "--source", "shm", "--shm-dir", dir.File("nope"), "--json"});
  EXPECT_NE(none.err.find("nope"), std::string::npos);
  EXPECT_EQ(none.exit_code, 2) << none.err;
}

// Anyone can create files in /dev/shm, and the daemon reads the regions once a second: reading is
// bounded (kMaxRegions files), and what is left is said.
TEST(ShmSource, ReadingIsBoundedInTheNumberOfFiles) {
  TempDir dir;
  for (size_t i = 0; i < ts::kMaxRegions + 5; ++i)
    Write(dir.File(fmt::format("tt_device_{}_memory", i)), "x");
  std::vector<std::string> problems;
  auto regions = ts::Discover(dir.path(), &problems);
  EXPECT_TRUE(regions.empty());
  ASSERT_EQ(problems.size(), ts::kMaxRegions + 1);
  EXPECT_NE(problems.front().find("5 more tt_device_*_memory files not read"), std::string::npos)
      << problems.front();
}

// `ttmem cleanup --shm` frees exactly the slots of exited processes, the way v4 writers do: the
// totals lose their bytes, the slot is free, live processes stay; --dry-run changes nothing.
TEST(ShmSource, CleanupFreesOnlyExitedProcesses) {
  TempDir dir;
  const pid_t me = ::getpid(), dead = DeadPid();
  for (uint32_t version : {2u, 3u, 4u}) {
    const std::string path = dir.File(fmt::format("tt_device_{}_memory", version));
    Write(path, ts::EncodeRegion(version, version, version,
                                 {{me, {100, 10, 0, 0, 1}, 1, Comm()},
                                  {dead, {5000, 500, 50, 5, 0}, 1, "crashed"}},
                                 ts::kReady));
  }
  auto dry = RunCli({"cleanup", "--shm", "--dry-run", "--shm-dir", dir.path()});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_NE(dry.out.find("would free pid " + std::to_string(dead)), std::string::npos) << dry.out;
  ts::Region r;
  std::string error;
  ASSERT_TRUE(ts::ReadRegion(dir.File("tt_device_4_memory"), &r, &error)) << error;
  EXPECT_EQ(r.processes.size(), 2u);  // untouched
  auto run = RunCli({"cleanup", "--shm", "--shm-dir", dir.path()});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("3 slot(s) of exited processes freed in 3 region(s)"), std::string::npos)
      << run.out;
  for (uint32_t version : {2u, 3u, 4u}) {
    ASSERT_TRUE(ts::ReadRegion(dir.File(fmt::format("tt_device_{}_memory", version)), &r, &error))
        << error;
    ASSERT_EQ(r.processes.size(), 1u) << version;
    EXPECT_EQ(r.processes[0].pid, me);
    EXPECT_EQ(r.totals[0], 100u);  // 5,100 - 5,000
    EXPECT_EQ(r.totals[1], 10u);
    EXPECT_EQ(r.totals[2], 0u);
    EXPECT_EQ(r.num_active_processes, 1u);
    EXPECT_EQ(r.reference_count, 1u);  // the dead writer's reference is given back
    EXPECT_GT(r.last_update_ns, 1'000'000'000'000'000'000ull);  // moved to now (it was 0)
  }
  // Nothing left to do: a second run frees nothing.
  auto again = RunCli({"cleanup", "--shm", "--shm-dir", dir.path()});
  EXPECT_NE(again.out.find("0 slot(s)"), std::string::npos) << again.out;
  auto bare = RunCli({"cleanup"});
  EXPECT_EQ(bare.exit_code, 2);
  EXPECT_NE(bare.err.find("--shm"), std::string::npos);
}

// When the last attached writer is gone, the region ends as tt-metal's reaper leaves it
// (release_process_slot for each dead slot, then reset_aggregates_if_idle): no slot, both counts
// 0, the totals and every used chip entry's figures 0, the chip ids kept, the timestamp moved.
TEST(ShmSource, CleanupOfTheLastWritersLeavesTheRegionIdle) {
  TempDir dir;
  const pid_t dead = DeadPid();
  for (uint32_t version : {2u, 3u, 4u}) {
    std::string b = ts::EncodeRegion(
        version, 77, 0, {{dead, {5000, 500, 50, 5, 7}, 1, "crashed"}, {-1, {0, 0, 0, 0, 0}, 1, ""}},
        ts::kReady);
    // A used chip entry (chip 0, local) with the dead writer's bytes, as the writers keep it.
    auto put64 = [&](size_t off, uint64_t v) { std::memcpy(b.data() + off, &v, 8); };
    const uint32_t chip = 0, remote = 0;
    std::memcpy(b.data() + ts::kOffChips, &chip, 4);
    std::memcpy(b.data() + ts::kOffChips + 4, &remote, 4);
    for (int t = 0; t < 5; ++t) put64(ts::kOffChips + 8 + 8 * t, 123 + t);
    // The dead writer's totals include bytes its slot no longer shows (torn, or freed late).
    put64(ts::kOffTotals, 9000);
    const std::string path = dir.File(fmt::format("tt_device_{}_memory", 100 + version));
    Write(path, b);
    auto run = RunCli({"cleanup", "--shm", "--shm-dir", dir.path()});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    std::ifstream f(path, std::ios::binary);
    std::string after((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    ASSERT_EQ(after.size(), b.size());
    auto u32 = [&](size_t off) {
      uint32_t v;
      std::memcpy(&v, after.data() + off, 4);
      return v;
    };
    auto u64 = [&](size_t off) {
      uint64_t v;
      std::memcpy(&v, after.data() + off, 8);
      return v;
    };
    EXPECT_EQ(u32(0), version);
    EXPECT_EQ(u32(4), 0u) << "num_active_processes";
    EXPECT_EQ(u32(16), 0u) << "reference_count";
    EXPECT_GT(u64(8), 1'000'000'000'000'000'000ull) << "timestamp moved";
    for (int t = 0; t < 5; ++t) {
      EXPECT_EQ(u64(ts::kOffTotals + 8 * t), 0u) << "total " << t;
      EXPECT_EQ(u64(ts::kOffChips + 8 + 8 * t), 0u) << "chip figure " << t;
    }
    EXPECT_EQ(u32(ts::kOffChips), 0u);  // the chip entry stays registered
    // Every slot is free and clear, including the dead one (pid, figures, time and name).
    for (size_t i = 0; i < 64; ++i) {
      const size_t at = ts::kOffProcesses + ts::kProcessSize * i;
      if (i == 1) continue;  // somebody else's release in progress: not ours
      EXPECT_EQ(after.substr(at, ts::kProcessSize), std::string(ts::kProcessSize, '\0')) << i;
    }
    std::remove(path.c_str());
  }
}

// The daemon merges tt-metal's statistics into its views: a process that reports natively is not
// counted twice; one known only from the statistics is added to the device with the same chip id
// (and to the processes, marked); a chip nobody announced becomes a device of its own.
TEST(ShmSource, DaemonMergesWithoutCountingTwice) {
  TempDir dir;
  Daemon daemon(dir);
  ASSERT_EQ(::mkdir(daemon.shm_dir().c_str(), 0700), 0);
  // The driver's per-device list of who holds the device open, in a directory of ours.
  ASSERT_EQ(::mkdir(dir.File("driver").c_str(), 0700), 0);
  ASSERT_EQ(::mkdir(dir.File("driver/0").c_str(), 0700), 0);
  daemon.extra_args = {"--driver-dir", dir.File("driver")};
  ASSERT_TRUE(daemon.Start());
  Client c =
      StartClient(dir, daemon.socket(), "c", {"--announce", "--devices", "2", "--ops", "50"});
  const pid_t silent = 4194000;  // a pid no process here reports for
  ASSERT_EQ(ReadLine(c.child.stdout_fd, 30s), "ready");
  const pid_t native = ReadTruth(c)["pid"].get<int>();
  json before = Status(daemon.socket());
  const uint64_t native_dram = before["devices"][0]["memory"]["dram"]["used_bytes"];
  const uint64_t now = 1;
  // Chip 0x7e570000 = the client's device 0: the client itself (natively tracked: ignored here)
  // and this test process (known only from tt-metal's statistics).
  Write(daemon.shm_dir() + "/tt_device_2119630848_memory",
        ts::EncodeRegion(4, 0x7e570000, 0,
                         {{native, {1 << 30, 0, 0, 0, 0}, now, "ttmem_stress_cl"},
                          {::getpid(), {4096, 512, 0, 0, 0}, now, Comm()}},
                         ts::kReady));
  // The same chip's id only in the file name, its asic_id field holding the low byte (as some
  // tt-metal versions write it): still matched, by the name.
  Write(daemon.shm_dir() + "/tt_device_2119630849_memory",
        ts::EncodeRegion(4, 0x01, 1, {{::getpid(), {8, 0, 0, 0, 0}, now, Comm()}}, ts::kReady));
  // A chip nobody announced.
  Write(daemon.shm_dir() + "/tt_device_777_memory",
        ts::EncodeRegion(3, 777, 5, {{::getpid(), {100, 0, 0, 0, 0}, now, Comm()}}, 0));
  Write(dir.File("driver/0/pids"), fmt::format("{}\n{}\n{}\n", native, ::getpid(), silent));
  json s = Status(daemon.socket());
  ASSERT_GE(s["devices"].size(), 2u) << s.dump(1);
  // Only the pid that reports nowhere is listed as holding the device open silently.
  EXPECT_EQ(s["open_without_report"],
            json::parse(fmt::format(R"([{{"driver_device":0,"pids":[{}]}}])", silent)));
  const json& d0 = s["devices"][0];
  EXPECT_EQ(d0["memory"]["dram"]["used_bytes"].get<uint64_t>(), native_dram + 4096);
  bool listed = false;
  for (const auto& e : d0["processes"])
    if (e["pid"] == ::getpid()) listed = e["source"] == "tt-metal-shm";
  EXPECT_TRUE(listed) << d0.dump(1);
  const json* other = nullptr;
  for (const auto& d : s["devices"])
    if (d["unique_id"] == 777) other = &d;
  ASSERT_NE(other, nullptr) << s.dump(1);
  EXPECT_EQ((*other)["source"], "tt-metal-shm");
  EXPECT_EQ((*other)["memory"]["dram"]["used_bytes"], 100);
  const json* me = FindProcess(s, ::getpid());
  ASSERT_NE(me, nullptr);
  EXPECT_EQ((*me)["source"], "tt-metal-shm");
  EXPECT_EQ((*me)["memory"]["dram"]["used_bytes"], 4204);
  EXPECT_EQ((*me)["devices"], json::array({0, 1, 5}));
  const json& d1 = s["devices"][1];
  ASSERT_EQ(d1["unique_id"], 0x7e570001);  // the native device, matched by the region's file name
  bool on_d1 = false;
  for (const auto& e : d1["processes"]) on_d1 = on_d1 || e["pid"] == ::getpid();
  EXPECT_TRUE(on_d1) << d1.dump(1);
  // The native client is listed once, with its native figures.
  size_t native_entries = 0;
  for (const auto& p : s["processes"]) native_entries += p["pid"] == native;
  EXPECT_EQ(native_entries, 1u);
  ::close(c.child.stdin_fd);
  Wait(c.child.pid, 10s);
}

// The two metrics the alert rules need beyond the usage figures (packaging/prometheus): memory
// tt-metal's statistics keep for a process that no longer exists, and the coverage anomalies.
TEST(ShmSource, MetricsCountMemoryHeldByDeadProcesses) {
  TempDir dir;
  Daemon daemon(dir);
  ASSERT_EQ(::mkdir(daemon.shm_dir().c_str(), 0700), 0);
  daemon.extra_args = {"--metrics-listen", "127.0.0.1:0"};
  ASSERT_TRUE(daemon.Start()) << daemon.log();
  const int port = ListeningPort(daemon);
  ASSERT_GT(port, 0) << daemon.log();
  const pid_t dead = 4194001;  // no such process
  ASSERT_NE(::kill(dead, 0), 0);
  // Updated now: this (live) process's slot is its own, not a reused pid's.
  const uint64_t now =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count());
  Write(daemon.shm_dir() + "/tt_device_777_memory",
        ts::EncodeRegion(3, 777, 5,
                         {{dead, {4 << 20, 0, 0, 0, 0}, now, "crashed"},
                          {::getpid(), {100, 64, 0, 0, 0}, now, Comm()}},
                         0));
  const std::string want = "ttmem_stale_memory_bytes{device=\"5\",type=\"dram\"} 4194304";
  const std::string text = ScrapeUntil(port, want);
  EXPECT_NE(text.find(want), std::string::npos) << text;
  // The live process's bytes are not counted as dead; tt-metal's other types are there, at 0.
  EXPECT_NE(text.find("ttmem_stale_memory_bytes{device=\"5\",type=\"l1\"} 0"), std::string::npos)
      << text;
  EXPECT_NE(text.find("ttmem_coverage_anomalies 0"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE ttmem_stale_memory_bytes gauge"), std::string::npos) << text;
}

}  // namespace
}  // namespace ttmem::test
