// `ttmem pick`'s decision over plain values (issue 28): the fit per bank, the ranking, boards kept
// together, and what it says when a figure is unknown.
#include "cli/pick_decide.h"

#include <gtest/gtest.h>

#include "base/bytes.h"

namespace ttmem::cli {
namespace {

constexpr uint64_t kKiB = 1024, kBank = 1024 * kKiB;
constexpr int kL1 = 1, kL1Small = 3, kDram = 0;

// A chip with 64 L1 banks of 1 MiB; `largest` free per bank in its map, `used` in all.
model::Device Chip(uint32_t id, std::optional<uint32_t> pcie, std::optional<uint64_t> board,
                   uint64_t used = 0) {
  model::Device d;
  d.id = id;
  d.arch = "wormhole_b0";
  d.pcie_id = pcie;
  d.board_id = board;
  d.num_cores = 64;
  d.memory[kL1].total_bytes = 64 * kBank;
  d.memory[kL1].used_bytes = used;
  d.memory[kL1Small].total_bytes = 64 * 64 * kKiB;
  return d;
}
model::FragmentationDevice Map(uint32_t id, uint64_t largest) {
  model::FragmentationType t;
  t.type = "l1";
  t.bank_count = 64;
  t.bank_size = kBank;
  t.largest_free_block_bytes = largest;
  return {id, {t}};
}

PickOptions L1PerBank(uint64_t per_bank, uint32_t n = 1) {
  PickOptions o;
  o.n = n;
  o.needs = {{kL1, std::nullopt, per_bank}};
  return o;
}

TEST(PickDecide, BoardsOfSeveralPcieDevicesAreKeptTogetherWhenWholeBoardsAreAsked) {
  // Two boards of two PCIe devices each (a p300 has two chips, each with its own PCIe device).
  model::Status s;
  model::FragmentationReply f;
  const uint64_t largest[4] = {800 * kKiB, 300 * kKiB, 900 * kKiB, 700 * kKiB};
  for (uint32_t i = 0; i < 4; ++i) {
    s.devices.push_back(Chip(i, i, i < 2 ? 7 : 9));
    f.devices.push_back(Map(i, largest[i]));
  }
  // Ranked by headroom: 2, 0, 3, 1. Two: the best board whole (2 and 3), not 2 and 0.
  EXPECT_EQ(DecidePick(s, f, L1PerBank(256 * kKiB, 2)).picked, (std::vector<uint32_t>{2, 3}));
  // One: the best device. Three: a whole board, then the best of the rest.
  EXPECT_EQ(DecidePick(s, f, L1PerBank(256 * kKiB, 1)).picked, (std::vector<uint32_t>{2}));
  EXPECT_EQ(DecidePick(s, f, L1PerBank(256 * kKiB, 3)).picked, (std::vector<uint32_t>{0, 2, 3}));
  // A board one of whose devices does not fit is not whole: its other device may still go.
  const model::PickDecision d = DecidePick(s, f, L1PerBank(500 * kKiB, 2));
  EXPECT_EQ(d.picked, (std::vector<uint32_t>{2, 3}));
  ASSERT_EQ(d.units[1].reasons.size(), 1u);
  EXPECT_EQ(d.units[1].reasons[0],
            "device 1: L1 needs 500 KiB per bank, largest free block 300 KiB");
  EXPECT_EQ(DecidePick(s, f, L1PerBank(750 * kKiB, 2)).picked, (std::vector<uint32_t>{0, 2}));
}

TEST(PickDecide, FewerProcessesBreakATieAndChipsOfOnePcieDeviceGoTogether) {
  model::Status s;
  model::FragmentationReply f;
  for (uint32_t i = 0; i < 4; ++i) {  // two n300s: chips 0,1 on PCIe 0; chips 2,3 on PCIe 1
    s.devices.push_back(Chip(i, i / 2, 100 + i / 2));
    f.devices.push_back(Map(i, kBank));
  }
  model::DeviceProcess p;
  p.pid = 42;
  s.devices[1].processes.push_back(p);  // holds nothing of L1, but is there
  model::PickDecision d = DecidePick(s, f, L1PerBank(kKiB));
  EXPECT_EQ(d.picked, (std::vector<uint32_t>{1}));
  ASSERT_EQ(d.units.size(), 2u);
  EXPECT_EQ(d.units[0].chips.size(), 2u);
  EXPECT_EQ(d.units[0].processes, 1u);
  // One chip that does not fit keeps its whole PCIe device out, and is named with it.
  f.devices[3] = Map(3, 10 * kKiB);
  d = DecidePick(s, f, L1PerBank(64 * kKiB));
  EXPECT_EQ(d.picked, (std::vector<uint32_t>{0}));
  ASSERT_EQ(d.units[1].reasons.size(), 1u);
  EXPECT_EQ(d.units[1].reasons[0],
            "device 3 (PCIe 1): L1 needs 64 KiB per bank, largest free block 10 KiB");
}

TEST(PickDecide, UnknownFiguresAreSaidNotGuessed) {
  model::Status s;
  s.devices.push_back(Chip(5, std::nullopt, std::nullopt));  // no topology: its id stands in
  s.devices.push_back(Chip(6, std::nullopt, std::nullopt));
  s.devices[1].memory[kL1].total_bytes.reset();  // capacity never announced
  PickOptions o;
  o.needs = {{kL1, uint64_t{64} * kKiB, std::nullopt}, {kL1Small, std::nullopt, 80 * kKiB}};
  model::FragmentationReply none;  // no map: free space per bank from the totals
  const model::PickDecision d = DecidePick(s, none, o);
  ASSERT_EQ(d.units.size(), 2u);
  EXPECT_FALSE(d.units[0].pcie_id_known);
  EXPECT_EQ(d.units[0].pcie_id, 5u);
  // L1: 64 KiB over 64 banks is 1 KiB each; L1_SMALL (banks from the cores) has 64 KiB a bank.
  ASSERT_EQ(d.units[0].reasons.size(), 1u);
  EXPECT_EQ(d.units[0].reasons[0],
            "device 5: L1_SMALL needs 80 KiB per bank, 64 KiB free per bank (no map of its banks)");
  EXPECT_EQ(d.units[1].reasons[0], "device 6: L1 capacity unknown (no process announced it)");
  EXPECT_TRUE(d.picked.empty());
  EXPECT_EQ(d.error,
            "1 PCIe device(s) asked, 0 of 2 fit now (the reasons below; ask for fewer with -n or "
            "for less, or see who holds what with ttmem status)");
  // Bytes in all where no bank count is known: against the free total.
  model::Status one;
  one.devices.push_back(Chip(0, 0, std::nullopt));
  one.devices[0].memory[kDram].total_bytes = 1000;
  one.devices[0].memory[kDram].used_bytes = 400;
  PickOptions dram;
  dram.needs = {{kDram, uint64_t{700}, std::nullopt}};
  EXPECT_EQ(DecidePick(one, none, dram).units[0].reasons[0],
            "device 0: DRAM needs 700 B, 600 B free");
  dram.needs[0].bytes = 600;
  EXPECT_EQ(DecidePick(one, none, dram).picked, (std::vector<uint32_t>{0}));
  EXPECT_EQ(DecidePick(model::Status{}, none, dram).error,
            "no devices known to ttmemd: a device shows once a process reporting to it has used "
            "it (ttmem status lists them)");
}

TEST(PickDecide, TheTopHolderIsNamedWithItsShare) {
  model::Status s;
  s.devices.push_back(Chip(3, 3, std::nullopt, 40 * kBank));
  model::DeviceProcess a, b;
  a.pid = 4242;
  a.memory[kL1].used_bytes = 39 * kBank;
  b.pid = 7;
  b.memory[kL1].used_bytes = kBank;
  s.devices[0].processes = {b, a};
  model::FragmentationReply f;
  f.devices.push_back(Map(3, 612 * kKiB));
  EXPECT_EQ(
      DecidePick(s, f, L1PerBank(900 * kKiB)).units[0].reasons[0],
      "device 3: L1 needs 900 KiB per bank, largest free block 612 KiB (pid 4242 holds 61 %)");
}

TEST(PickDecide, ABoardIsJudgedByItsWorstDeviceAndUnknownsComeLast) {
  model::Status s;
  model::FragmentationReply f;
  // Board 7: 900 and 100 KiB free per bank; board 9: 800 and 800. Two whole: board 9.
  const uint64_t largest[4] = {900 * kKiB, 100 * kKiB, 800 * kKiB, 800 * kKiB};
  for (uint32_t i = 0; i < 4; ++i) {
    s.devices.push_back(Chip(i, i, i < 2 ? 7 : 9));
    f.devices.push_back(Map(i, largest[i]));
  }
  EXPECT_EQ(DecidePick(s, f, L1PerBank(64 * kKiB, 2)).picked, (std::vector<uint32_t>{2, 3}));
  // No need: a device whose figures are unknown (no map, no capacity) is never the best.
  model::Status two;
  two.devices.push_back(Chip(0, 0, std::nullopt));
  two.devices[0].memory[kL1].total_bytes.reset();
  two.devices.push_back(Chip(1, 1, std::nullopt, 60 * kBank));
  model::FragmentationReply one;
  one.devices.push_back(Map(1, 4 * kKiB));
  const model::PickDecision d = DecidePick(two, one, PickOptions{});
  EXPECT_EQ(d.picked, (std::vector<uint32_t>{1}));
  EXPECT_FALSE(d.units[0].headroom_known);
  // Nor one a process that reports nothing holds open (the driver's list): its memory is unknown.
  model::Status held = two;
  held.devices[0].memory[kL1].total_bytes = 64 * kBank;
  one.devices.push_back(Map(0, kBank));
  EXPECT_EQ(DecidePick(held, one, PickOptions{}).picked, (std::vector<uint32_t>{0}));
  held.open_without_report = std::vector<model::DriverOpen>{{0, {4242}}};
  EXPECT_EQ(DecidePick(held, one, PickOptions{}).picked, (std::vector<uint32_t>{1}));
}

TEST(PickDecide, AChipWithoutTopologyIsNotOfferedBesideChipsThatSayTheirs) {
  model::Status s;
  s.devices.push_back(Chip(0, 2, std::nullopt));             // PCIe 2
  s.devices.push_back(Chip(2, std::nullopt, std::nullopt));  // its id could name PCIe 2 too
  model::Device shm = Chip(9, std::nullopt, std::nullopt);   // tt-metal's statistics only
  shm.source = "tt-metal-shm";
  s.devices.push_back(shm);
  model::FragmentationReply f;
  f.devices = {Map(0, kBank), Map(2, kBank)};
  const model::PickDecision d = DecidePick(s, f, L1PerBank(kKiB, 1));
  EXPECT_EQ(d.picked, (std::vector<uint32_t>{2}));
  ASSERT_EQ(d.units.size(), 2u);  // the statistics-only chip is no candidate
  EXPECT_EQ(d.units[1].reasons[0],
            "device 2: announced without its PCIe device (libttmem before 0.4), while other chips "
            "say theirs: not offered");
  ASSERT_EQ(d.notes.size(), 1u);
  EXPECT_NE(d.notes[0].find("1 chip(s) known only from tt-metal's own statistics"),
            std::string::npos);
  EXPECT_EQ(DecidePick(s, f, L1PerBank(kKiB, 2)).picked, std::vector<uint32_t>{});
}

TEST(PickDecide, ExclusiveSkipsEveryHolderTheDriverLists) {
  model::Status s;
  model::FragmentationReply f;
  for (uint32_t i = 0; i < 3; ++i) {
    s.devices.push_back(Chip(i, i, std::nullopt));
    f.devices.push_back(Map(i, kBank));
  }
  s.devices[0].open_by = std::vector<pid_t>{77};  // a reporting process holding nothing there
  s.open_without_report = std::vector<model::DriverOpen>{{1, {88}}};
  PickOptions o = L1PerBank(kKiB, 1);
  o.exclusive = true;
  const model::PickDecision d = DecidePick(s, f, o);
  EXPECT_EQ(d.picked, (std::vector<uint32_t>{2}));
  EXPECT_EQ(d.units[0].reasons[0], "device 0: held open by pid 77 (the driver's list)");
  EXPECT_EQ(d.units[1].reasons[0],
            "device 1: held open by pid 88, which reports nothing (the driver's list)");
  EXPECT_EQ(d.units[0].processes, 1u);
  o.exclusive = false;
  o.n = 3;
  EXPECT_EQ(DecidePick(s, f, o).picked, (std::vector<uint32_t>{0, 1, 2}));
}

TEST(Bytes, SizesAsPeopleWriteThem) {
  EXPECT_EQ(base::ParseBytes("4096"), 4096u);
  EXPECT_EQ(base::ParseBytes("900K"), 900u * 1024);
  EXPECT_EQ(base::ParseBytes("900KiB"), 900u * 1024);
  EXPECT_EQ(base::ParseBytes("900kb"), 900u * 1024);
  EXPECT_EQ(base::ParseBytes("1.5G"), 1536ull << 20);
  EXPECT_EQ(base::ParseBytes("2 MiB"), 2u << 20);
  EXPECT_EQ(base::ParseBytes("0"), 0u);
  const std::string digits(400, '9');  // no exception: not a size
  EXPECT_EQ(base::ParseBytes(digits), std::nullopt);
  for (const char* bad : {"", "lots", "1.5", "1..5K", "K", "12X", "5KiBs", "-1", "1e3", "9999999T"})
    EXPECT_EQ(base::ParseBytes(bad), std::nullopt) << bad;
}

}  // namespace
}  // namespace ttmem::cli
