// The daemon's history rings: one sample per interval, bounded, oldest first; a process's series
// ends with it.
#include "daemon/history.h"

#include <gtest/gtest.h>

namespace ttmem::daemon {
namespace {

TEST(History, SamplesOncePerIntervalKeepsTheNewestAndForgetsExitedProcesses) {
  ledger::Ledger l;
  History h(1000, 3);
  l.Alloc(7, 0, 0, 1, 0, 100);  // DRAM
  l.Alloc(7, 1, 1, 2, 0, 10);   // L1 on device 1
  h.MaybeSample(10000, l);
  h.MaybeSample(10500, l);  // too soon: ignored
  l.Alloc(7, 0, 0, 3, 0, 50);
  for (uint64_t t = 11000; t <= 14000; t += 1000) h.MaybeSample(t, l);
  auto j = h.ToJson(std::nullopt, std::nullopt);
  EXPECT_EQ(j["interval_ms"], 1000);
  EXPECT_EQ(j["columns"][1], "dram");
  ASSERT_EQ(j["devices"].size(), 2u);
  const auto& d0 = j["devices"][0]["samples"];
  ASSERT_EQ(d0.size(), 3u);  // capacity 3: 12000, 13000, 14000
  EXPECT_EQ(d0[0][0], 12000);
  EXPECT_EQ(d0[2][0], 14000);
  EXPECT_EQ(d0[2][1], 150);
  const auto& p = j["processes"][0];
  EXPECT_EQ(p["pid"], 7);
  EXPECT_EQ(p["samples"][2][1], 150);  // DRAM over its devices
  EXPECT_EQ(p["samples"][2][2], 10);   // L1
  EXPECT_EQ(h.ToJson(1, std::nullopt)["devices"].size(), 1u);
  EXPECT_TRUE(h.ToJson(std::nullopt, 99)["processes"].empty());
  l.RemoveProcess(7);
  h.MaybeSample(15000, l);
  j = h.ToJson(std::nullopt, std::nullopt);
  EXPECT_TRUE(j["processes"].empty());
  EXPECT_EQ(j["devices"][0]["samples"][2][1], 0);  // devices keep theirs, now empty
}

}  // namespace
}  // namespace ttmem::daemon
