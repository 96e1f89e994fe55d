// The status model's JSON: what is written reads back to the same model (every field, both
// sources), readers never throw on a hostile or partial document, and tt-metal's statistics map
// onto the model one way.
#include "model/status_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "model/from_tt_shm.h"
#include "model/json_writer.h"

namespace ttmem::model {
namespace {

using nlohmann::json;

Status Full() {
  Status s;
  s.daemon = DaemonInfo{42, "/run/ttmem/ttmemd.sock", 5012, 1};
  Device d;
  d.id = 3;
  d.arch = "wormhole_b0";
  d.unique_id = 0xabc;
  d.num_cores = 64;
  d.memory[0] = {1048576, 1, 12884901888ull};
  d.memory[1] = {0, 0, std::nullopt};
  d.capture_estimate = Memory{};
  (*d.capture_estimate)[1] = {50, 1, std::nullopt};
  DeviceProcess e;
  e.pid = 4242;
  e.name = "my \"app\"";
  e.memory[0] = {1048576, 1, std::nullopt};
  d.processes.push_back(e);
  ttshm::Process slot;
  slot.pid = 77;
  slot.name = "other";
  slot.used = {10, 20, 30, 40, 50};
  slot.alive = false;
  d.processes.push_back(ShmDeviceProcess(slot));
  s.devices.push_back(d);
  Process p;
  p.pid = 4242;
  p.name = "my \"app\"";
  p.cmdline = "./my_app --model x";
  p.uid = 1000;
  p.user = "alice";
  p.tag = "resnet50";
  p.started_unix_ms = 1795000000000ull;
  p.devices = {3};
  p.memory = d.processes[0].memory;
  p.counters = {1, 2, 3};
  s.processes.push_back(p);
  s.open_without_report = std::vector<DriverOpen>{{0, {9, 10}}};
  s.coverage_anomalies = std::vector<CoverageAnomaly>{{4242, 3, 1, 100, 200000, 1795000000001ull}};
  s.counters = Counters{1, 2, 3, 4, 5, 6, 7, 1};
  return s;
}

TEST(StatusModel, WrittenDocumentReadsBackToTheSameModel) {
  const std::string text = ToJson(Full());
  Status back;
  std::string error;
  ASSERT_TRUE(FromJson(json::parse(text), &back, &error)) << error;
  EXPECT_EQ(ToJson(back), text);
  EXPECT_EQ(back.devices[0].processes[1].source, kShmSource);
  EXPECT_TRUE(back.devices[0].processes[1].stale);
  EXPECT_FALSE(back.devices[0].processes[1].memory[6].used_bytes.has_value());  // KERNEL: null
  EXPECT_EQ(back.processes[0].tag, "resnet50");
  EXPECT_EQ(back.coverage_anomalies->at(0).type, 1);
  // The documented keys, in the daemon's order (docs/protocol.md §3).
  EXPECT_EQ(text.rfind("{\"version\":1,\"daemon\":{\"pid\":42,", 0), 0u) << text;
  const json j = json::parse(text);
  EXPECT_EQ(j["devices"][0]["memory"]["dram"]["total_bytes"], 12884901888ull);
  EXPECT_TRUE(j["devices"][0]["memory"]["l1"]["total_bytes"].is_null());
  EXPECT_FALSE(j["processes"][0]["memory"]["dram"].contains("total_bytes"));
  EXPECT_EQ(j["devices"][0]["processes"][0].size(), 3u);  // pid, name, memory
}

TEST(StatusModel, TheShmSourceReadsBackToo) {
  Status s;
  s.source = kShmSource;
  s.shm_dir = "/dev/shm";
  ttshm::Region r;
  r.device_id = 1;
  r.chip_id = 1234;
  r.version = 4;
  r.path = "/dev/shm/tt_device_1234_memory";
  r.totals = {5, 6, 7, 8, 9};
  ttshm::Process live;
  live.pid = 5;
  live.name = "py";
  live.verified = false;
  live.unverified_reason = "does not map the region";
  r.processes.push_back(live);
  Device d = ShmDevice(r);
  d.layout_version = r.version;
  d.region = r.path;
  d.open_without_report = std::vector<pid_t>{8};
  s.devices.push_back(d);
  s.processes = ShmProcesses({r}, nullptr);
  s.problems = std::vector<std::string>{"x: truncated"};
  const std::string text = ToJson(s);
  Status back;
  std::string error;
  ASSERT_TRUE(FromJson(json::parse(text), &back, &error)) << error;
  EXPECT_EQ(ToJson(back), text);
  EXPECT_TRUE(back.processes[0].unverified);
  EXPECT_EQ(back.processes[0].unverified_reason, "does not map the region");
  EXPECT_FALSE(back.devices[0].memory[0].buffers.has_value());  // tt-metal counts no buffers
}

TEST(StatusModel, ShmProcessesMergeTheirSlotsAndSkipWhatIsAskedTo) {
  ttshm::Region a, b;
  a.device_id = 0;
  b.device_id = 1;
  ttshm::Process p;
  p.pid = 7;
  p.name = "x";
  p.used = {1, 2, 3, 4, 5};
  p.verified = true;
  a.processes.push_back(p);
  p.alive = false;
  p.stale_reason = "pid reused";
  b.processes.push_back(p);
  p.pid = 8;
  b.processes.push_back(p);
  auto all = ShmProcesses({a, b}, nullptr);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].devices, (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(all[0].memory[0].used_bytes, 2u);
  EXPECT_EQ(all[0].memory[5].used_bytes, 10u);  // CB: tt-metal's fifth figure
  EXPECT_FALSE(all[0].memory[2].used_bytes.has_value());
  EXPECT_TRUE(all[0].stale);
  EXPECT_EQ(all[0].stale_reason, "pid reused");
  auto some = ShmProcesses({a, b}, [](pid_t pid) { return pid == 7; });
  ASSERT_EQ(some.size(), 1u);
  EXPECT_EQ(some[0].pid, 8);
}

TEST(StatusModel, ReadersRefuseWhatIsNotAStatusAndNeverThrow) {
  Status s;
  std::string error;
  EXPECT_FALSE(FromJson(json::array(), &s, &error));
  EXPECT_FALSE(FromJson(json{{"error", "unknown command"}}, &s, &error));
  EXPECT_NE(error.find("unknown command"), std::string::npos);
  EXPECT_FALSE(FromJson(json{{"version", 2}}, &s, &error));
  EXPECT_NE(error.find("version 2"), std::string::npos) << error;
  // Mistyped and out-of-range fields keep their defaults.
  const json hostile = json::parse(R"({"version": 1, "devices": [{"id": "x", "memory": 5,
      "processes": [{"pid": 1e30, "memory": {"dram": {"used_bytes": -5}}}]}, 7],
      "processes": {"pid": 3}, "counters": [], "coverage_anomalies": [{"type": "hbm"}]})");
  ASSERT_TRUE(FromJson(hostile, &s, &error)) << error;
  ASSERT_EQ(s.devices.size(), 2u);
  EXPECT_EQ(s.devices[0].id, 0u);
  EXPECT_EQ(s.devices[0].processes[0].pid, 0);
  EXPECT_FALSE(s.devices[0].processes[0].memory[0].used_bytes.has_value());
  EXPECT_TRUE(s.processes.empty());
  EXPECT_FALSE(s.counters.has_value());
}

TEST(StatusModel, MemoGivesTheDocumentAFreshWriteGives) {
  Status s = Full();
  s.processes[0].revision = {1, 1};
  s.devices[0].processes[0].revision = {1, 1};
  JsonMemo memo;
  std::string first, fresh;
  WriteJson(s, &first, &memo);
  WriteJson(s, &fresh);
  EXPECT_EQ(first, fresh);
  s.processes[0].memory[0].used_bytes = 1;  // a change comes with a new revision
  s.processes[0].revision = {2, 1};
  s.devices[0].processes[0].revision = {2, 1};
  std::string second;
  WriteJson(s, &second, &memo);
  EXPECT_EQ(second, ToJson(s));
  s.processes.clear();
  s.devices[0].processes.clear();
  std::string third;
  WriteJson(s, &third, &memo);
  EXPECT_TRUE(memo.entries().empty());  // a process gone is forgotten
}

}  // namespace
}  // namespace ttmem::model

namespace ttmem::model {
namespace {

TEST(JsonWriter, StringsAreWrittenAsNlohmannWritesThem) {
  for (const std::string& v :
       std::vector<std::string>{"", "plain name", "q\"uote", "back\\slash", "tab\there", "del\x7f",
                                "caf\xc3\xa9", "bad \xff utf8", std::string("nul\0x", 5)}) {
    std::string out;
    JsonWriter w(&out);
    w.String(v);
    EXPECT_EQ(out, json(v).dump(-1, ' ', false, json::error_handler_t::replace)) << v;
  }
}

}  // namespace
}  // namespace ttmem::model
