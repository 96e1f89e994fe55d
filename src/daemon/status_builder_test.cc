// The status document: valid JSON with the documented fields, and the per-process cache gives
// byte-for-byte the document a fresh build gives, through changes, tags and exits.
#include "daemon/status_builder.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace ttmem::daemon {
namespace {

// With `replies`, as the daemon answers (memo and model kept); without, built afresh.
std::string Build(const ledger::Ledger& l, const std::map<pid_t, ProcessMeta>& meta,
                  StatusReplies* replies) {
  const DaemonMeta dm{42, "/tmp/x.sock", 5, 7, 0, 0, {}};
  std::string out;
  if (replies != nullptr)
    replies->Write(l, meta, dm, &out);
  else
    model::WriteJson(BuildStatus(l, meta, dm), &out);
  return out;
}

TEST(StatusJson, FieldsAndEscaping) {
  ledger::Ledger l;
  ledger::DeviceInfo info;
  info.arch = "wormhole_b0";
  info.unique_id = 0xabc;
  info.num_cores = 64;
  info.capacity_bytes = {1000, 200, 0, 0, 0, 0, 0};
  info.unique_id_valid = true;
  l.SetDeviceInfo(0, info);
  l.Alloc(10, 0, 0, 1, 0x100, 300);
  l.Alloc(10, 3, 1, 2, 0x200, 50, ledger::Capture::kEstimate);
  std::map<pid_t, ProcessMeta> meta;
  meta[10] = {"py\"thon", "a\nb \xff", 1000, "me", "", 1, 1, {}, {}, {}};
  auto j = nlohmann::json::parse(Build(l, meta, nullptr));
  ASSERT_EQ(j["devices"].size(), 2u);
  const auto& d0 = j["devices"][0];
  EXPECT_EQ(d0["arch"], "wormhole_b0");
  EXPECT_EQ(d0["unique_id"], 0xabc);
  EXPECT_EQ(d0["memory"]["dram"]["used_bytes"], 300);
  EXPECT_EQ(d0["memory"]["dram"]["total_bytes"], 1000);
  EXPECT_TRUE(d0["memory"]["trace"]["total_bytes"].is_null());
  EXPECT_EQ(d0["processes"][0]["name"], "py\"thon");
  EXPECT_EQ(d0["processes"][0]["memory"]["l1_small"]["buffers"], 0);
  const auto& d3 = j["devices"][1];
  EXPECT_TRUE(d3["arch"].is_null());
  EXPECT_EQ(d3["capture_estimate"]["l1"]["used_bytes"], 50);
  EXPECT_TRUE(d3["processes"].empty());  // a capture estimate uses no device memory
  const auto& p = j["processes"][0];
  EXPECT_EQ(p["cmdline"], "a\nb \xef\xbf\xbd");  // invalid UTF-8 replaced, not fatal
  EXPECT_EQ(p["devices"], nlohmann::json::array({0}));
  EXPECT_TRUE(p["tag"].is_null());
  EXPECT_EQ(p["uid"], 1000);
  EXPECT_EQ(j["counters"]["live_buffers"], 2);
  EXPECT_EQ(j["daemon"]["pid"], 42);
}

TEST(StatusJson, CacheMatchesAFreshBuildThroughChanges) {
  ledger::Ledger l;
  std::map<pid_t, ProcessMeta> meta;
  StatusReplies cache;
  uint64_t meta_version = 0;
  for (pid_t pid = 1; pid <= 20; ++pid) {
    meta[pid] = {"p" + std::to_string(pid), "cmd", 0, "root", "", 0, ++meta_version, {}, {}, {}};
    for (uint64_t id = 1; id <= 10; ++id) l.Alloc(pid, static_cast<uint32_t>(id % 4), 0, id, 0, 64);
  }
  EXPECT_EQ(Build(l, meta, &cache), Build(l, meta, nullptr));
  l.Alloc(7, 9, 1, 100, 0, 1 << 20);  // a new device for one process
  l.Free(3, 1, 1);
  l.Free(3, 1, 12345);  // an unknown free: a counter changes
  EXPECT_EQ(Build(l, meta, &cache), Build(l, meta, nullptr));
  meta[5].tag = "model-a";
  meta[5].version = ++meta_version;
  l.RemoveProcess(9);
  meta.erase(9);
  EXPECT_EQ(Build(l, meta, &cache), Build(l, meta, nullptr));
  EXPECT_EQ(cache.memo().size(), 19u);  // the exited process's parts are gone
  l.Alloc(9, 0, 0, 1, 0, 10);           // the pid comes back as another process
  meta[9] = {"again", "cmd2", 0, "root", "", 0, ++meta_version, {}, {}, {}};
  const std::string with_cache = Build(l, meta, &cache);
  EXPECT_EQ(with_cache, Build(l, meta, nullptr));
  EXPECT_NE(with_cache.find("\"again\""), std::string::npos);
}

}  // namespace
}  // namespace ttmem::daemon
