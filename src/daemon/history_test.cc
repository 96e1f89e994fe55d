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
  model::HistoryReply r = h.Reply(std::nullopt, std::nullopt);
  EXPECT_EQ(r.interval_ms, 1000u);
  ASSERT_EQ(r.devices.size(), 2u);
  const auto& d0 = r.devices.at(0);
  ASSERT_EQ(d0.size(), 3u);  // capacity 3: 12000, 13000, 14000
  EXPECT_EQ(d0[0].unix_ms, 12000u);
  EXPECT_EQ(d0[2].unix_ms, 14000u);
  EXPECT_EQ(d0[2].used[0], 150u);
  const auto& p = r.processes.at(7);
  EXPECT_EQ(p[2].used[0], 150u);  // DRAM over its devices
  EXPECT_EQ(p[2].used[1], 10u);   // L1
  EXPECT_EQ(h.Reply(1, std::nullopt).devices.size(), 1u);
  EXPECT_TRUE(h.Reply(std::nullopt, 99).processes.empty());
  // As the daemon sends it and top reads it.
  const std::string text = model::ToJsonText(r);
  EXPECT_NE(text.find(R"("columns":["unix_ms","dram","l1")"), std::string::npos) << text;
  const model::HistoryReply back = model::ParseHistoryReply(text);
  EXPECT_EQ(back.devices.at(0)[2].used[0], 150u);
  EXPECT_EQ(back.processes.at(7)[2].used[1], 10u);
  l.RemoveProcess(7);
  h.MaybeSample(15000, l);
  r = h.Reply(std::nullopt, std::nullopt);
  EXPECT_TRUE(r.processes.empty());
  EXPECT_EQ(r.devices.at(0)[2].used[0], 0u);  // devices keep theirs, now empty
}

}  // namespace
}  // namespace ttmem::daemon
