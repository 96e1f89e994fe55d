// Why memory was held, from recordings (issue 17): the growth between repeated phase marks named
// by op, the ops' peaks, the sizing advisor's exact figures and the regression gate's exit codes —
// real simulator processes recorded by the real ttmemd, reports made by the real ttmem.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/record_fixture.h"

namespace ttmem::test {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

const json* OpPeak(const json& report, const std::string& op, const std::string& type) {
  for (const auto& o : report["ops"])
    if (o["op"] == op)
      for (const auto& p : o["peaks"])
        if (p["type"] == type) return &p;
  return nullptr;
}

// `ttmem sim leak --repeat 5`: a mark before each step, each step leaves a 1 MiB cache made by
// ttnn::concat. Between the first and the last mark: exactly +1 MiB of DRAM per interval, every
// interval, all of it ttnn::concat's.
TEST_F(Record, GrowthBetweenRepeatedMarksIsExactAndNamedByOp) {
  const std::string db = dir_.File("leak.sqlite");
  ASSERT_EQ(RecordRun(db, SimCmd({"leak", "--repeat", "5"})).exit_code, 0);
  json r = Report(db);
  ASSERT_TRUE(r.is_object());
  const json& ph = r["phases"];
  EXPECT_EQ(ph["marks_total"], 5);
  ASSERT_EQ(ph["marks"].size(), 5u);
  // What the process held at each mark: the weights, then one more cache per step.
  for (size_t i = 0; i < 5; ++i) {
    const json& m = ph["marks"][i];
    EXPECT_EQ(m["name"], "iteration");
    ASSERT_EQ(m["held"].size(), 1u) << m.dump();
    EXPECT_EQ(m["held"][0]["type"], "dram");
    EXPECT_EQ(m["held"][0]["bytes"], (4 + i) * kMiB);
  }
  ASSERT_EQ(ph["growth"].size(), 1u);
  const json& g = ph["growth"][0];
  EXPECT_EQ(g["name"], "iteration");
  EXPECT_EQ(g["marks"], 5);
  EXPECT_EQ(g["intervals"], 4);
  ASSERT_EQ(g["by_type"].size(), 1u);
  EXPECT_EQ(g["by_type"][0]["growth_bytes"], 4 * kMiB);
  EXPECT_EQ(g["by_type"][0]["per_interval_bytes"].get<double>(), 1.0 * kMiB);
  EXPECT_EQ(g["by_type"][0]["min_step_bytes"], kMiB);
  EXPECT_EQ(g["by_type"][0]["max_step_bytes"], kMiB);
  ASSERT_EQ(g["by_op"].size(), 1u) << g.dump();
  EXPECT_EQ(g["by_op"][0]["op"], "ttnn::concat");
  EXPECT_EQ(g["by_op"][0]["per_interval_bytes"].get<double>(), 1.0 * kMiB);
  // The ops: allocations, bytes, and each one's share of the DRAM peak (4 + 8 + 5 = 17 MiB).
  const json* concat = OpPeak(r, "ttnn::concat", "dram");
  ASSERT_NE(concat, nullptr);
  EXPECT_EQ((*concat)["peak_bytes"], 5 * kMiB);
  EXPECT_EQ((*concat)["bytes_at_type_peak"], 5 * kMiB);
  EXPECT_DOUBLE_EQ((*concat)["share_of_type_peak"].get<double>(), 5.0 / 17.0);
  for (const auto& o : r["ops"])
    if (o["op"] == "ttnn::linear") {
      EXPECT_EQ(o["allocs"], 10);  // an activation and a scratch buffer per step
      EXPECT_EQ(o["bytes_allocated"], 5 * (8 * kMiB + 256 * 1024));
    }
  const json* dram = FindType(r, 0, "dram");
  ASSERT_NE(dram, nullptr);
  EXPECT_EQ((*dram)["by_op_at_peak"][0], json::parse(R"({"op":"ttnn::linear","bytes":8388608,
                                                        "buffers":1,"share":0.47058823529411764})"));
  // The text says it in one line per op.
  CliResult text = RunCli({"report", db});
  EXPECT_NE(text.out.find("'iteration': ttnn::concat +1.0 MiB per interval (dram on device 0)"),
            std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("+1.0 MiB every time"), std::string::npos) << text.out;
}

// `ttmem sim traced_model`: L1_SMALL 6 + 2 + 4 KiB per bank at its peak (ttnn::max_pool2d),
// traces of 200 + 100 KiB per DRAM bank (ttnn::end_trace_capture), L1 20 KiB per bank with 64 KiB
// of CBs per core (ttnn::matmul) on Wormhole B0's 1,364,992 B L1 banks.
TEST_F(Record, AdviseGivesTheSmallestRegionsPerBankExactly) {
  const std::string db = dir_.File("traced.sqlite");
  ASSERT_EQ(RecordRun(db, SimCmd({"traced_model"})).exit_code, 0);
  CliResult r = RunCli({"report", db, "--advise", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json rep = json::parse(r.out);
  ASSERT_EQ(rep["advice"].size(), 1u);
  const json& a = rep["advice"][0];
  EXPECT_EQ(a["device"], 0);
  EXPECT_EQ(a["trace_region_size"], 307200);
  EXPECT_EQ(a["l1_small_size"], 12288);
  EXPECT_EQ(a["trace"]["bank_count"], 12);
  EXPECT_EQ(a["trace"]["alignment"], 32);
  EXPECT_EQ(a["trace"]["op"], "ttnn::end_trace_capture");
  EXPECT_EQ(a["l1_small"]["op"], "ttnn::max_pool2d");
  EXPECT_EQ(a["l1"]["peak_per_core_bytes"], 86016);
  EXPECT_EQ(a["l1"]["headroom_per_core_bytes"], 1364992 - 86016);
  EXPECT_EQ(a["l1"]["op"], "ttnn::matmul");
  CliResult text = RunCli({"report", db, "--advise"});
  EXPECT_NE(text.out.find("trace_region_size = 307200"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("l1_small_size     = 12288"), std::string::npos) << text.out;
  // --scale 2 doubles nothing here but the run's other buffers: the advice stays exact for a
  // run that uses no trace at all (the leak): 0, never used.
  const std::string leak = dir_.File("leak.sqlite");
  ASSERT_EQ(RecordRun(leak, SimCmd({"leak"})).exit_code, 0);
  json l = json::parse(RunCli({"report", leak, "--advise", "--json"}).out);
  EXPECT_EQ(l["advice"][0]["trace_region_size"], 0);
  EXPECT_FALSE(l["advice"][0]["trace"].contains("op"));
}

// The regression gate: peaks per device and type, and per op where both name it.
TEST_F(Record, BaselineGateExitsOneWhenAPeakGrewBeyondTheLimit) {
  const std::string two = dir_.File("two.sqlite"), three = dir_.File("three.sqlite");
  ASSERT_EQ(RecordRun(two, SimCmd({"leak", "--repeat", "2"})).exit_code, 0);
  ASSERT_EQ(RecordRun(three, SimCmd({"leak", "--repeat", "3"})).exit_code, 0);
  // DRAM's peak 14 -> 15 MiB (+7.1 %), ttnn::concat's 2 -> 3 MiB (+50 %).
  EXPECT_EQ(RunCli({"report", three, "--baseline", two, "--max-growth", "5"}).exit_code, 1);
  EXPECT_EQ(RunCli({"report", three, "--baseline", two, "--max-growth", "10"}).exit_code, 1);
  EXPECT_EQ(RunCli({"report", three, "--baseline", two, "--max-growth", "50"}).exit_code, 0);
  EXPECT_EQ(RunCli({"report", two, "--baseline", three, "--max-growth", "0"}).exit_code, 0);
  EXPECT_EQ(RunCli({"report", two, "--baseline", two, "--max-growth", "0"}).exit_code, 0);
  CliResult j = RunCli({"report", three, "--baseline", two, "--max-growth", "10", "--json"});
  EXPECT_EQ(j.exit_code, 1);
  json c = json::parse(j.out)["comparison"];
  EXPECT_EQ(c["exceeded"], true);
  bool saw_type = false, saw_op = false;
  for (const auto& row : c["rows"]) {
    if (row["type"] != "dram") continue;
    if (!row.contains("op")) {
      saw_type = true;
      EXPECT_EQ(row["baseline_bytes"], 14 * kMiB);
      EXPECT_EQ(row["bytes"], 15 * kMiB);
      EXPECT_FALSE(row["exceeded"].get<bool>());
    } else if (row["op"] == "ttnn::concat") {
      saw_op = true;
      EXPECT_DOUBLE_EQ(row["growth_pct"].get<double>(), 50.0);
      EXPECT_TRUE(row["exceeded"].get<bool>());
    }
  }
  EXPECT_TRUE(saw_type && saw_op) << c.dump(1);
  CliResult text = RunCli({"report", three, "--baseline", two, "--max-growth", "10"});
  EXPECT_NE(text.out.find("FAILED: a peak grew by more than 10 %"), std::string::npos) << text.out;
  // Usage errors: exit 2 with what to do.
  CliResult alone = RunCli({"report", three, "--max-growth", "5"});
  EXPECT_EQ(alone.exit_code, 2);
  EXPECT_NE(alone.err.find("--baseline"), std::string::npos) << alone.err;
  CliResult missing = RunCli({"report", three, "--baseline", dir_.File("none.sqlite")});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("does not exist"), std::string::npos) << missing.err;
}

// The HTML marks each phase and the allocation of each buffer at a peak (hovering shows the op,
// the process and the size), and lists the ops holding memory at each peak.
TEST_F(Record, HtmlMarksPhasesAndOps) {
  const std::string db = dir_.File("leak.sqlite"), html = dir_.File("r.html");
  ASSERT_EQ(RecordRun(db, SimCmd({"leak", "--repeat", "3"})).exit_code, 0);
  ASSERT_EQ(RunCli({"report", db, "--html", html}).exit_code, 0);
  std::ifstream f(html);
  const std::string h((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_NE(h.find("<title>mark &#39;iteration&#39; by pid"), std::string::npos);
  EXPECT_NE(h.find("<title>ttnn::concat: pid "), std::string::npos);
  EXPECT_NE(h.find(") allocated 1.0 MiB</title>"), std::string::npos);
  EXPECT_NE(h.find("dram at the peak, by op"), std::string::npos);
  EXPECT_NE(h.find("<h2 id=\"phases\">Growth between repeated marks</h2>"), std::string::npos);
}

// `--trace`: Chrome trace-event JSON (the format's documented fields: traceEvents; ph C counters
// with name, ts, pid, args; X slices with dur; i instants; M metadata naming the tracks).
TEST_F(Record, TraceIsChromeTraceEventJson) {
  const std::string db = dir_.File("leak.sqlite"), out = dir_.File("trace.json");
  ASSERT_EQ(RecordRun(db, SimCmd({"leak", "--repeat", "3"})).exit_code, 0);
  CliResult r = RunCli({"report", db, "--trace", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream f(out);
  const json t = json::parse(f, nullptr, false);
  ASSERT_TRUE(t.is_object());
  ASSERT_TRUE(t["traceEvents"].is_array());
  const int64_t device0 = int64_t{1} << 30;  // the device's counter tracks
  uint64_t dram_max = 0, marks = 0, concat_bytes = 0;
  int64_t sim_pid = 0;
  std::set<std::string> device_tracks, process_tracks;
  for (const auto& e : t["traceEvents"]) {
    ASSERT_TRUE(e["name"].is_string() && e["ph"].is_string() && e["pid"].is_number_integer())
        << e.dump();
    const std::string ph = e["ph"];
    if (ph != "M") {
      ASSERT_TRUE(e["ts"].is_number()) << e.dump();
    }
    if (ph == "C") {
      ASSERT_TRUE(e["args"]["bytes"].is_number_unsigned()) << e.dump();
      if (e["pid"] == device0) {
        device_tracks.insert(e["name"]);
        if (e["name"] == "dram") dram_max = std::max(dram_max, e["args"]["bytes"].get<uint64_t>());
      } else {
        process_tracks.insert(e["name"]);
        sim_pid = e["pid"];
      }
    } else if (ph == "X") {
      ASSERT_TRUE(e["dur"].is_number()) << e.dump();
      if (e["name"] == "ttnn::concat") concat_bytes += e["args"]["bytes"].get<uint64_t>();
    } else if (ph == "i") {
      EXPECT_EQ(e["name"], "iteration");
      ++marks;
    } else {
      EXPECT_EQ(ph, "M") << e.dump();
    }
  }
  EXPECT_EQ(device_tracks, (std::set<std::string>{"dram", "l1"}));
  EXPECT_EQ(process_tracks, (std::set<std::string>{"dram on device 0", "l1 on device 0"}));
  EXPECT_EQ(dram_max, 15 * kMiB);  // the report's DRAM peak: 4 + 8 + 3 caches
  EXPECT_EQ(concat_bytes, 3 * kMiB);
  EXPECT_EQ(marks, 3u);
  bool named = false;
  for (const auto& e : t["traceEvents"])
    if (e["ph"] == "M" && e["name"] == "process_name" && e["pid"] == device0)
      named = e["args"]["name"] == "device 0 (wormhole_b0)";
  EXPECT_TRUE(named);
  EXPECT_GT(sim_pid, 0);
  CliResult bad = RunCli({"report", db, "--trace", dir_.File("no/such/dir/t.json")});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("cannot write"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace ttmem::test
