// `ttmem pick` (issue 28) on the simulator: a T3000 (8 chips behind 4 PCIe devices, as tt-metal's
// own T3000 cluster descriptor places them) and an n150, with processes holding known memory,
// the real daemon and the real CLI.
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "protocol/frames.h"
#include "protocol/wire.h"
#include "tests/harness.h"

namespace ttmem::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// `ttmem-sim hold --system SYSTEM ARGS...`, reporting to the daemon; returns once every chip of
// the system is announced and what it holds is applied (the checkpoint "held").
struct Holder {
  Child child;
  pid_t pid() const { return child.pid; }
};
Holder Hold(const TempDir& dir, const Daemon& d, const std::string& system,
            const std::vector<std::string>& args) {
  std::vector<std::string> argv = {BinDir() + "/ttmem-sim", "hold", "--system", system,
                                   "--checkpoints"};
  argv.insert(argv.end(), args.begin(), args.end());
  Holder h{Spawn(argv, {{"TT_ALLOC_TRACKING_ENABLED", "1"}, {"TTMEM_SOCKET", d.socket()}}, true,
                 true, dir.File("hold.stderr"))};
  const std::string line = ReadLine(h.child.stdout_fd, 30s);
  EXPECT_NE(line.find("\"held\""), std::string::npos) << line;
  return h;
}
void Release(Holder& h) {
  ::kill(h.pid(), SIGTERM);
  EXPECT_EQ(::write(h.child.stdin_fd, "\n", 1), 1);  // past the "freed" checkpoint
  ::close(h.child.stdin_fd);
  ::close(h.child.stdout_fd);
  Wait(h.pid(), 30s);
}

CliResult Pick(const Daemon& d, std::vector<std::string> args) {
  args.insert(args.begin(), {"pick", "--socket", d.socket()});
  return RunCli(args);
}

// A T3000 where three processes hold known memory: pid A 48 MiB of L1 on chip 0 (PCIe 0), pid B
// 48 MiB of L1 on chip 5 (PCIe 1), pid C 2 GiB of DRAM and 16 MiB of L1 on chip 3 (PCIe 2). An L1
// buffer of 40 MiB takes 640 KiB of each of the 64 banks: it fits beside C, not beside A or B.
class T3000 : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(daemon_.Start());
    a_ = Hold(dir_, daemon_, "t3000", {"--hold", "0:l1:48M"});
    b_ = Hold(dir_, daemon_, "t3000", {"--hold", "5:l1:48M"});
    c_ = Hold(dir_, daemon_, "t3000", {"--hold", "3:dram:2G", "--hold", "3:l1:16M"});
  }
  void TearDown() override {
    for (Holder* h : {&a_, &b_, &c_})
      if (h->pid() > 0) Release(*h);
  }
  TempDir dir_;
  Daemon daemon_{dir_};
  Holder a_, b_, c_;
};

TEST_F(T3000, StatusShowsEachChipsPcieDeviceAndBoard) {
  const json s = Status(daemon_.socket());
  ASSERT_EQ(s["devices"].size(), 8u) << s.dump(1);
  // tt-metal's T3000 descriptor: chip 2 is /dev/tenstorrent/3, chip 3 /dev/tenstorrent/2; chips
  // 4-7 are reached through chips 0-3 and sit on their boards.
  const uint32_t pcie[8] = {0, 1, 3, 2, 0, 1, 3, 2};
  for (const json& d : s["devices"]) {
    const uint32_t id = d["id"];
    EXPECT_EQ(d["pcie_id"], pcie[id]) << d.dump();
    EXPECT_EQ(d["mmio_device"], id % 4) << d.dump();
    EXPECT_EQ(d["board_type"], "n300") << d.dump();
    EXPECT_EQ(d["board_id"], s["devices"][id % 4]["board_id"]) << d.dump();
  }
  const CliResult table = RunCli({"status", "--socket", daemon_.socket()});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("PCIE"), std::string::npos) << table.out;
  const CliResult csv =
      RunCli({"status", "--socket", daemon_.socket(), "--query", "device.id,device.pcie_id"});
  EXPECT_NE(csv.out.find("2,3\n"), std::string::npos) << csv.out;
}

TEST_F(T3000, PicksExactlyTheDevicesWhereThePerBankNeedFits) {
  const CliResult r = Pick(daemon_, {"-n", "2", "--l1", "40M"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "TT_METAL_VISIBLE_DEVICES=2,3\n");
  const CliResult list = Pick(daemon_, {"-n", "2", "--l1", "40M", "--format", "list"});
  EXPECT_EQ(list.out, "2,3\n");
  // Three cannot: each of the other two has a chip where 640 KiB per bank is not free in one
  // block. The reason names the chip, its PCIe device, the figures and who holds the most.
  const CliResult three = Pick(daemon_, {"-n", "3", "--l1", "40M"});
  EXPECT_EQ(three.exit_code, 1);
  EXPECT_EQ(three.out, "");
  EXPECT_NE(three.err.find("3 PCIe device(s) asked, 2 of 4 fit now"), std::string::npos)
      << three.err;
  EXPECT_NE(three.err.find(fmt::format("device 0 (PCIe 0): L1 needs 640 KiB per bank, largest "
                                       "free block 565 KiB (pid {} holds 58 %)",
                                       a_.pid())),
            std::string::npos)
      << three.err;
  EXPECT_NE(three.err.find(fmt::format("device 5 (PCIe 1): L1 needs 640 KiB per bank, largest "
                                       "free block 565 KiB (pid {} holds 58 %)",
                                       b_.pid())),
            std::string::npos)
      << three.err;
  // Per bank as given: 600 KiB of each bank fits beside A and B too (565 KiB does not).
  EXPECT_EQ(Pick(daemon_, {"-n", "4", "--l1", "560K/bank"}).exit_code, 0);
  EXPECT_EQ(Pick(daemon_, {"-n", "4", "--l1", "600K/bank"}).exit_code, 1);
}

TEST_F(T3000, PrefersHeadroomThenFewerProcessesAndSaysItAllInJson) {
  // No need: the most headroom first. PCIe 3 (chips 2 and 6) holds nothing; PCIe 2 holds C's.
  EXPECT_EQ(Pick(daemon_, {}).out, "TT_METAL_VISIBLE_DEVICES=3\n");
  const CliResult r = Pick(daemon_, {"-n", "2", "--l1", "40M", "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["picked"], json::parse("[2,3]"));
  EXPECT_EQ(j["env"], "TT_METAL_VISIBLE_DEVICES=2,3");
  EXPECT_EQ(j["need"]["types"]["l1"]["bytes"], 40 << 20);
  ASSERT_EQ(j["devices"].size(), 4u);
  for (const json& u : j["devices"]) {
    ASSERT_EQ(u["chips"].size(), 2u) << u.dump();
    const bool fits = u["pcie_id"] == 2 || u["pcie_id"] == 3;
    EXPECT_EQ(u["fits"], fits) << u.dump();
    EXPECT_EQ(u["picked"], fits) << u.dump();
    EXPECT_EQ(u["reasons"].empty(), fits) << u.dump();
    for (const json& c : u["chips"]) {
      const json& l1 = c["types"][0];
      EXPECT_EQ(l1["type"], "l1");
      EXPECT_EQ(l1["bank_count"], 64);
      EXPECT_EQ(l1["need_per_bank_bytes"], 640 * 1024);
      EXPECT_GT(l1["largest_free_block_bytes"].get<uint64_t>(), 0u);
    }
  }
}

TEST(Pick, AFragmentedDeviceWithEnoughFreeInAllIsNotPickedAndSaysWhy) {
  TempDir dir;
  Daemon daemon(dir);
  ASSERT_TRUE(daemon.Start());
  // L1 filled with 8 MiB buffers (128 KiB per bank), every other one freed: about half is free,
  // in holes of 128 KiB (at most 180 KiB where a hole meets the unallocated rest).
  Holder h = Hold(dir, daemon, "n150", {"--fragment", "0:l1:8M"});
  const CliResult r = Pick(daemon, {"--l1", "16M", "--format", "json"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  const json j = json::parse(r.out);
  const json& l1 = j["devices"][0]["chips"][0]["types"][0];
  EXPECT_GE(l1["free_bytes"].get<uint64_t>(), uint64_t{16} << 20) << l1.dump();  // enough in all
  EXPECT_LT(l1["largest_free_block_bytes"].get<uint64_t>(), 256u * 1024) << l1.dump();
  EXPECT_EQ(l1["fits"], false);
  EXPECT_TRUE(j["picked"].empty());
  EXPECT_NE(r.err.find("device 0: L1 needs 256 KiB per bank, largest free block"),
            std::string::npos)
      << r.err;
  // What a hole holds fits.
  EXPECT_EQ(Pick(daemon, {"--l1", "8M"}).out, "TT_METAL_VISIBLE_DEVICES=0\n");
  Release(h);
}

TEST(Pick, ExclusiveSkipsADeviceHeldOpenByAProcessThatReportsNothing) {
  TempDir dir;
  Daemon daemon(dir);
  ASSERT_EQ(::mkdir(dir.File("driver").c_str(), 0700), 0);
  ASSERT_EQ(::mkdir(dir.File("driver/0").c_str(), 0700), 0);
  ASSERT_EQ(::mkdir(dir.File("driver/1").c_str(), 0700), 0);
  daemon.extra_args = {"--driver-dir", dir.File("driver")};
  ASSERT_TRUE(daemon.Start());
  Holder h = Hold(dir, daemon, "t3000", {"--hold", "3:l1:1M"});  // C: memory on PCIe 2
  // A process that reports nothing holds /dev/tenstorrent/1 open (the driver's list); C itself
  // holds /dev/tenstorrent/0 open too, with nothing of its memory there.
  Child silent = Spawn({"/bin/sleep", "600"}, {}, false, false);
  std::ofstream(dir.File("driver/1/pids")) << silent.pid << "\n";
  std::ofstream(dir.File("driver/0/pids")) << h.pid() << "\n";
  ASSERT_GE(PollUntil(daemon.socket(), 10s,
                      [](const json& s) { return s.contains("open_without_report"); })
                .count(),
            0);
  const json s = Status(daemon.socket());
  EXPECT_EQ(s["devices"][0]["open_by"], json::array({h.pid()})) << s["devices"][0].dump();
  EXPECT_EQ(s["devices"][4]["open_by"], json::array({h.pid()})) << s["devices"][4].dump();
  EXPECT_EQ(s["devices"][1]["open_by"], json::array({silent.pid})) << s["devices"][1].dump();
  EXPECT_FALSE(s["devices"][2].contains("open_by")) << s["devices"][2].dump();
  // Without --exclusive every device can take a small need, those with a silent holder last.
  EXPECT_EQ(Pick(daemon, {"-n", "4"}).out, "TT_METAL_VISIBLE_DEVICES=0,1,2,3\n");
  EXPECT_EQ(Pick(daemon, {"-n", "3"}).out, "TT_METAL_VISIBLE_DEVICES=0,2,3\n");
  // Exclusive: only PCIe 3 (chips 2 and 6) is held by nobody.
  EXPECT_EQ(Pick(daemon, {"--exclusive"}).out, "TT_METAL_VISIBLE_DEVICES=3\n");
  const CliResult r = Pick(daemon, {"-n", "2", "--exclusive"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(fmt::format("device 1 (PCIe 1): held open by pid {}, which reports "
                                   "nothing (the driver's list)",
                                   silent.pid)),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find(
                fmt::format("device 0 (PCIe 0): held open by pid {} (the driver's list)", h.pid())),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find(fmt::format("device 3 (PCIe 2): in use by pid {}", h.pid())),
            std::string::npos)
      << r.err;
  ::kill(silent.pid, SIGKILL);
  Wait(silent.pid, 10s);
  Release(h);
}

TEST(Pick, TheNeedOfATracedModelRecording) {
  TempDir dir;
  Daemon daemon(dir);
  ASSERT_TRUE(daemon.Start());
  const std::string rec = dir.File("model.db");
  const CliResult recorded =
      RunCli({"record", "--socket", daemon.socket(), "-o", rec, "--", BinDir() + "/ttmem", "sim",
              "--socket", daemon.socket(), "traced_model"});
  ASSERT_EQ(recorded.exit_code, 0) << recorded.err;
  // Its advisor: L1 84 KiB per core at the peak (with CBs), L1_SMALL 12 KiB and TRACE 300 KiB
  // per bank. Chip 6 keeps 53 KiB of L1 per bank free, chip 1 170 KiB of TRACE.
  Holder h = Hold(dir, daemon, "t3000", {"--hold", "6:l1:80M", "--hold", "1:trace:190M"});
  const CliResult r = Pick(daemon, {"-n", "2", "--need", rec, "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["need"]["source"], rec);
  EXPECT_EQ(j["need"]["types"]["l1"]["per_bank_bytes"], 84 * 1024);
  EXPECT_EQ(j["need"]["types"]["l1_small"]["per_bank_bytes"], 12 * 1024);
  EXPECT_EQ(j["need"]["types"]["trace"]["per_bank_bytes"], 300 * 1024);
  EXPECT_GT(j["need"]["types"]["dram"]["bytes"].get<uint64_t>(), 0u);
  EXPECT_EQ(j["picked"], json::parse("[0,2]"));  // chip 6 is PCIe 3's, chip 1 PCIe 1's
  const CliResult three = Pick(daemon, {"-n", "3", "--need", rec});
  EXPECT_EQ(three.exit_code, 1);
  EXPECT_NE(
      three.err.find("device 6 (PCIe 3): L1 needs 84 KiB per bank, largest free block 53 KiB"),
      std::string::npos)
      << three.err;
  EXPECT_NE(three.err.find(
                "device 1 (PCIe 1): TRACE needs 300 KiB per bank, largest free block 170.7 KiB"),
            std::string::npos)
      << three.err;
  Release(h);
}

TEST(Pick, ExitCodesAndErrorMessages) {
  TempDir dir;
  Daemon daemon(dir);
  // No daemon: 2, and how to start one.
  CliResult r = Pick(daemon, {});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no ttmemd answering"), std::string::npos) << r.err;
  ASSERT_TRUE(daemon.Start());
  // No devices: 1.
  r = Pick(daemon, {});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no devices known to ttmemd"), std::string::npos) << r.err;
  // Usage: 2, each saying what was wrong.
  r = Pick(daemon, {"--l1", "lots"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--l1 'lots' is not a size"), std::string::npos) << r.err;
  r = Pick(daemon, {"--dram", "1.5"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--dram '1.5' is not a size"), std::string::npos) << r.err;
  r = Pick(daemon, {"-n", "0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("-n"), std::string::npos) << r.err;
  r = Pick(daemon, {"--format", "xml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--format"), std::string::npos) << r.err;
  r = Pick(daemon, {"--need", dir.File("missing.db")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--need: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("missing.db"), std::string::npos) << r.err;
  // A FIFO planted at the name: refused at once, never opened (an open would block).
  ASSERT_EQ(::mkfifo(dir.File("fifo.db").c_str(), 0600), 0);
  r = Pick(daemon, {"--need", dir.File("fifo.db")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("is not a regular file"), std::string::npos) << r.err;
  std::ofstream(dir.File("junk.db")) << "not a recording";
  r = Pick(daemon, {"--need", dir.File("junk.db")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("not a ttmem recording"), std::string::npos) << r.err;
  r = Pick(daemon, {"--frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("ttmem pick --help"), std::string::npos) << r.err;
  // More than there are, or of another arch: 1, with the reason.
  Holder h = Hold(dir, daemon, "n300", {});
  r = Pick(daemon, {"-n", "2"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("2 PCIe device(s) asked, 1 of 1 fit now"), std::string::npos) << r.err;
  r = Pick(daemon, {"--arch", "blackhole"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("device 0 (PCIe 0): arch wormhole_b0, not blackhole"), std::string::npos)
      << r.err;
  // An n300's two chips are one PCIe device: one id.
  r = Pick(daemon, {"--arch", "wormhole"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "TT_METAL_VISIBLE_DEVICES=0\n");
  Release(h);
}

}  // namespace
}  // namespace ttmem::test
