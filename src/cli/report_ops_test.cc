// The report's pure parts over plain values (issue 27): the op ledger, the phase marks, the
// sizing advisor and the regression gate — no daemon, no simulator, no recording.
#include "cli/report_ops.h"

#include <gtest/gtest.h>

#include "cli/report.h"
#include "cli/report_replay.h"

namespace ttmem::cli {
namespace {

constexpr int kDram = 0, kL1 = 1, kL1Small = 3, kTrace = 4, kCb = 5;

TEST(OpLedger, PeaksSharesAndWhatAProcessHolds) {
  OpLedger ops;
  ops.Alloc(1, "matmul", 0, kDram, 1000, true);
  ops.Alloc(1, "matmul", 0, kDram, 500, true);
  ops.Free(1, "matmul", 0, kDram, 1000);
  ops.Alloc(2, "", 0, kDram, 3000, true);   // outside any scope
  ops.Alloc(1, "conv", 0, kL1, 64, false);  // a live buffer at the stream's start: not counted
  EXPECT_EQ(ops.OfProcess(1).at({"matmul", 0, kDram}), 500u);
  EXPECT_EQ(ops.OfProcess(1).at({"conv", 0, kL1}), 64u);
  EXPECT_TRUE(ops.OfProcess(3).empty());
  const std::vector<report::OpReport> r =
      ops.Report({{{0, kDram}, 4000}}, {{{0, kDram}, {{"matmul", 1000}, {"", 3000}}}});
  ASSERT_EQ(r.size(), 3u);  // by each op's largest peak: "" 3000, matmul 1500, conv 64
  EXPECT_FALSE(r[0].op);
  EXPECT_EQ(r[1].op, "matmul");
  EXPECT_EQ(r[1].allocs, 2u);
  EXPECT_EQ(r[1].bytes_allocated, 1500u);
  ASSERT_EQ(r[1].peaks.size(), 1u);
  EXPECT_EQ(r[1].peaks[0].peak_bytes, 1500u);
  EXPECT_EQ(r[1].peaks[0].bytes_at_type_peak, 1000u);
  EXPECT_DOUBLE_EQ(*r[1].peaks[0].share_of_type_peak, 0.25);
  EXPECT_EQ(r[2].op, "conv");
  EXPECT_EQ(r[2].allocs, 0u);
  EXPECT_FALSE(r[2].peaks[0].share_of_type_peak);  // no type peak known for L1
}

TEST(Phases, GrowthPerIntervalWithItsSmallestAndLargestStep) {
  Phases ph;
  using Held = std::map<std::pair<uint32_t, int>, uint64_t>;
  const Held steps[] = {{{{0, kDram}, 100}}, {{{0, kDram}, 300}}, {{{0, kDram}, 400}}};
  for (int i = 0; i < 3; ++i)
    ph.Mark(7, 4242, "step", "", 1000 * i, 0.001 * i, steps[i],
            {{{"matmul", 0, kDram}, steps[i].begin()->second}});
  ph.Mark(7, 4242, "once", "", 5000, 0.005, {}, {});
  const report::PhasesReport r = ph.Report();
  EXPECT_EQ(r.marks_total, 4u);
  ASSERT_EQ(r.marks.size(), 4u);
  ASSERT_EQ(r.growth.size(), 1u);  // "once" has no interval
  const report::Growth& g = r.growth[0];
  EXPECT_EQ(g.name, "step");
  EXPECT_EQ(g.intervals, 2u);
  ASSERT_EQ(g.by_type.size(), 1u);
  EXPECT_EQ(g.by_type[0].growth_bytes, 300);
  EXPECT_DOUBLE_EQ(g.by_type[0].per_interval_bytes, 150.0);
  EXPECT_EQ(g.by_type[0].min_step_bytes, 100);
  EXPECT_EQ(g.by_type[0].max_step_bytes, 200);
  ASSERT_EQ(g.by_op.size(), 1u);
  EXPECT_EQ(g.by_op[0].op, "matmul");
  EXPECT_EQ(g.by_op[0].growth_bytes, 300);
}

TEST(Advisor, AlignedPerBankPeaksAndL1HeadroomPerCore) {
  Advisor a;
  AdvisorDevice d;
  d.arch = "wormhole_b0";
  d.num_cores = 64;
  d.capacity[kL1] = 64ull * 1024 * 1024;
  d.bank_count[kL1] = 64;
  d.capacity[kL1Small] = 64ull * 32768;
  d.bank_count[kL1Small] = 64;
  d.capacity[kTrace] = 12ull << 24;
  d.bank_count[kTrace] = 12;
  a.SetDevice(0, d);
  EXPECT_EQ(Advisor::Alignment("wormhole_b0", kTrace), 32u);
  EXPECT_EQ(Advisor::Alignment("blackhole", kDram), 64u);
  EXPECT_EQ(Advisor::Alignment("blackhole", kL1), 16u);
  // 1000 B of L1_SMALL over 64 banks: 16 B each (15.6, aligned up); TRACE 12,000 B over 12: 1000
  // -> 1024 (32 B alignment).
  a.Change(0, kL1Small, 1000, +1, 10, 0.1, 42, "pool");
  a.Change(0, kTrace, 12000, +1, 20, 0.2, 42, "trace");
  a.Change(0, kL1, 64 * 1024, +1, 30, 0.3, 42, "matmul");  // 1 KiB per bank
  a.Change(0, kCb, 64 * 2048, +1, 40, 0.4, 42, "matmul");  // 2 KiB per core
  a.Change(0, kCb, 64 * 2048, -1, 50, 0.5, 42, "matmul");
  const std::vector<report::Advice> r = a.Report();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].l1_small.peak_per_bank_bytes, 16u);
  EXPECT_EQ(r[0].l1_small.configured_per_bank_bytes, 32768u);
  EXPECT_EQ(r[0].trace.peak_per_bank_bytes, 1024u);
  ASSERT_TRUE(r[0].trace.at);
  EXPECT_EQ(r[0].trace.at->op, "trace");
  EXPECT_EQ(r[0].l1.peak_per_core_bytes, 3072u);
  EXPECT_EQ(r[0].l1.cb_peak_per_core_bytes, 2048u);
  EXPECT_EQ(r[0].l1.headroom_per_core_bytes, 1024u * 1024 - 3072);
  EXPECT_DOUBLE_EQ(r[0].l1.at->offset_s, 0.4);
  // A device announced without bank counts gets no figure (the text says why).
  Advisor bare;
  bare.SetDevice(1, AdvisorDevice{});
  const std::vector<report::Advice> none = bare.Report();
  EXPECT_FALSE(none[0].trace.peak_per_bank_bytes);
  EXPECT_FALSE(none[0].l1.bank_size_bytes);
}

report::Report Peaks(uint64_t dram, uint64_t matmul) {
  report::Report r;
  r.recording.file = "run.db";
  report::DeviceReport& d = r.devices.emplace_back();
  report::TypeReport& t = d.types.emplace_back();
  t.type = "dram";
  t.peak_bytes = dram;
  report::OpReport& o = r.ops.emplace_back();
  o.op = "matmul";
  o.peaks.push_back({0, "dram", matmul, 0, std::nullopt});
  r.ops.push_back(report::OpReport{});  // outside any scope: only in the type's row
  return r;
}

TEST(CompareReports, GrowthBeyondTheLimitExceedsAndNothingElseDoes) {
  const report::Comparison c = CompareReports(Peaks(1000, 400), Peaks(1100, 500), 20.0);
  EXPECT_EQ(c.baseline, "run.db");
  ASSERT_EQ(c.rows.size(), 2u);  // the type, then its op
  EXPECT_FALSE(c.rows[0].op);
  EXPECT_DOUBLE_EQ(*c.rows[0].growth_pct, 10.0);
  EXPECT_FALSE(c.rows[0].exceeded);
  EXPECT_EQ(c.rows[1].op, "matmul");
  EXPECT_DOUBLE_EQ(*c.rows[1].growth_pct, 25.0);
  EXPECT_TRUE(c.rows[1].exceeded);
  EXPECT_TRUE(c.exceeded);
  // Without a limit nothing exceeds; from nothing is "new" (no percentage).
  EXPECT_FALSE(CompareReports(Peaks(1000, 400), Peaks(1100, 500), std::nullopt).exceeded);
  const report::Comparison fresh = CompareReports(Peaks(0, 0), Peaks(100, 0), 5.0);
  EXPECT_FALSE(fresh.rows[0].growth_pct);
  EXPECT_TRUE(fresh.rows[0].exceeded);
  EXPECT_NE(RenderComparisonText(fresh).find("new"), std::string::npos);
}

// The replay applies the daemon's rules to recorded events and keeps each buffer's time.
TEST(Replay, DuplicatesReplaceUnknownFreesChangeNothingAndTimesAreKept) {
  using replay::Event;
  auto ev = [](int kind, uint64_t id, uint64_t size, int64_t t) {
    Event e;
    e.seq = t;
    e.time_ns = t;
    e.proc = 1;
    e.kind = kind;
    e.type = kind == 1 ? kDram : -1;
    e.id = id;
    e.address = id * 4096;
    e.size = size;
    return e;
  };
  constexpr int kAllocKind = 1, kFreeKind = 2;
  replay::Replay r;
  EXPECT_TRUE(r.Apply(ev(kAllocKind, 1, 100, 10)).allocated);
  const replay::Replay::Applied dup = r.Apply(ev(kAllocKind, 1, 300, 20));
  ASSERT_TRUE(dup.replaced);
  EXPECT_EQ(dup.replaced->size, 100u);
  EXPECT_EQ(r.DeviceBytes(0, kDram), 300u);
  EXPECT_FALSE(r.Apply(ev(kFreeKind, 9, 0, 30)).known);
  EXPECT_EQ(r.DeviceBytes(0, kDram), 300u);
  r.Apply(ev(kAllocKind, 2, 50, 40));
  std::map<uint64_t, int64_t> times;
  r.ForEachLive(0, kDram,
                [&](int64_t, const ledger::LiveEntry& e, int64_t at) { times[e.id] = at; });
  EXPECT_EQ(times, (std::map<uint64_t, int64_t>{{1, 20}, {2, 40}}));
  const replay::Replay::Applied freed = r.Apply(ev(kFreeKind, 1, 0, 50));
  EXPECT_EQ(freed.freed_allocated_ns, 20);
  EXPECT_EQ(r.LiveCount(), 1u);
  EXPECT_EQ(r.Held(1).at({0, kDram}), 50u);
}

}  // namespace
}  // namespace ttmem::cli
