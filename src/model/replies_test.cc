// The typed replies (model/replies.h, model/snapshot.h): written as the daemon sends them, read
// back as a monitor reads them; a refusal or garbage reads as an error, never an exception.
#include "model/replies.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/notices.h"
#include "model/snapshot.h"

namespace ttmem::model {
namespace {

TEST(Replies, BuffersAndFragmentationReadBackAsWritten) {
  BuffersReply b;
  b.buffers.push_back({2, "l1", 7, 0x1000, 4096, false, "ttnn::matmul"});
  b.buffers.push_back({2, "dram", 8, 0x2000, 64, true, std::nullopt});
  b.live_buffers = 99;
  b.by_op.push_back({"ttnn::matmul", 4096, 1, {{"l1", 4096}}});
  const BuffersReply back = ParseBuffersReply(ToJsonText(b));
  EXPECT_FALSE(back.error);
  ASSERT_EQ(back.buffers.size(), 2u);
  EXPECT_EQ(back.buffers[0].op, "ttnn::matmul");
  EXPECT_FALSE(back.buffers[1].op);
  EXPECT_TRUE(back.buffers[1].capture);
  EXPECT_EQ(back.live_buffers, 99u);
  EXPECT_EQ(back.by_op[0].by_type.at("l1"), 4096u);

  FragmentationReply f;
  f.devices.push_back({3, {{"dram", 12, 0, 1 << 20, 4096, (1 << 20) - 4096, 1 << 19, 2, "# "}}});
  const FragmentationReply fb = ParseFragmentationReply(ToJsonText(f));
  ASSERT_EQ(fb.devices.size(), 1u);
  EXPECT_EQ(fb.devices[0].id, 3u);
  EXPECT_EQ(fb.devices[0].types[0].largest_free_block_bytes, 1u << 19);
  EXPECT_EQ(fb.devices[0].types[0].map, "# ");
}

TEST(Replies, ARefusalOrGarbageIsAnErrorNotAnException) {
  EXPECT_EQ(ParseBuffersReply(R"({"error":"pid 7 belongs to another user"})").error,
            "pid 7 belongs to another user");
  EXPECT_TRUE(ParseHistoryReply("{not json").error);
  EXPECT_TRUE(ParseFragmentationReply("[1,2]").error);
  // Mistyped members read as empty.
  const BuffersReply odd = ParseBuffersReply(R"({"buffers":[{"size":"big","op":3}],"by_op":7})");
  ASSERT_EQ(odd.buffers.size(), 1u);
  EXPECT_EQ(odd.buffers[0].size, 0u);
  EXPECT_FALSE(odd.buffers[0].op);
  EXPECT_TRUE(odd.by_op.empty());
  EXPECT_TRUE(
      ParseHistoryReply(R"({"devices":[{"id":1,"samples":[[5,"x"],7]}]})").devices.at(1).size() ==
      1);
}

TEST(Replies, ASnapshotReadsBackAsWritten) {
  Snapshot s;
  s.pid = 42;
  s.name = "python\xff";  // invalid UTF-8 is replaced on the way out
  s.time_unix_ms = 1;
  s.reason = "Out of Memory: Not enough space to allocate 4096 B L1 buffer";
  s.live_buffers = 1;
  s.buffers.push_back({42, 0, "l1", 0x10, 4096, 9, "conv\"2d", false, std::nullopt});
  s.by_op.push_back({"conv\"2d", 0, "l1", 4096, 1});
  SnapshotType& t = s.types.emplace_back();
  t.device = 0;
  t.type = "l1";
  t.process_bytes = 4096;
  t.bank_count = 64;
  t.largest_free_block_bytes = 128;
  t.map = "#.";
  s.summary = "Snapshot of pid 42";
  const std::string text = ToJsonText(s);
  const nlohmann::json j = nlohmann::json::parse(text);  // valid JSON, buffers written as text
  const Snapshot back = ReadSnapshot(j);
  EXPECT_FALSE(back.error);
  EXPECT_EQ(back.name, "python\xef\xbf\xbd");
  ASSERT_EQ(back.buffers.size(), 1u);
  EXPECT_EQ(back.buffers[0].op, "conv\"2d");
  EXPECT_FALSE(back.buffers[0].age_s);
  EXPECT_EQ(back.types[0].bank_count, 64u);
  EXPECT_EQ(back.types[0].largest_free_block_bytes, 128u);
  EXPECT_EQ(back.summary, "Snapshot of pid 42");
  Snapshot refused;
  refused.error = "no such process reports to this ttmemd";
  EXPECT_EQ(ReadSnapshot(nlohmann::json::parse(ToJsonText(refused))).error, refused.error);
}

}  // namespace
}  // namespace ttmem::model

namespace ttmem::model {
namespace {

// The event stream's notices: what the daemon writes reads back as the same notice; an unknown
// or broken one is an UnknownNotice (a newer daemon's notice is skipped, not fatal).
TEST(Notices, EachKindReadsBackAsWritten) {
  ProcessStartNotice p;
  p.pid = 7;
  p.time_ns = 5;
  p.existing = true;
  p.name = "py";
  p.uid = 1000;
  p.ns_pid = 1;
  p.container_claimed = "abc";
  const Notice back = ReadNotice(nlohmann::json::parse(ToJsonText(p)));
  ASSERT_TRUE(std::holds_alternative<ProcessStartNotice>(back));
  const auto& q = std::get<ProcessStartNotice>(back);
  EXPECT_EQ(q.pid, 7);
  EXPECT_TRUE(q.existing);
  EXPECT_EQ(q.ns_pid, 1);
  EXPECT_FALSE(q.container);
  EXPECT_EQ(q.container_claimed, "abc");
  DeviceNotice d;
  d.device = 3;
  d.capacity_bytes[1] = 99;
  const Notice dn = ReadNotice(nlohmann::json::parse(ToJsonText(d)));
  ASSERT_TRUE(std::holds_alternative<DeviceNotice>(dn));
  EXPECT_FALSE(std::get<DeviceNotice>(dn).unique_id);
  EXPECT_EQ(std::get<DeviceNotice>(dn).capacity_bytes[1], 99u);
  for (const Notice& n : {Notice{StartNotice{1, 2, 2, -1}}, Notice{ProcessEndNotice{7, 9, 10}},
                          Notice{OpNameNotice{7, 3, "ttnn::add"}}, Notice{LostNotice{1, 2, 3, 4}},
                          Notice{FlushedNotice{5, 6, 7}}})
    EXPECT_EQ(ReadNotice(nlohmann::json::parse(ToJsonText(n))).index(), n.index());
  EXPECT_TRUE(std::holds_alternative<UnknownNotice>(ReadNotice(nlohmann::json::array())));
  EXPECT_TRUE(
      std::holds_alternative<UnknownNotice>(ReadNotice(nlohmann::json{{"event", "future"}})));
  const Notice broken = ReadNotice(nlohmann::json{{"event", "lost"}, {"total", "many"}});
  EXPECT_EQ(std::get<LostNotice>(broken).total, 0u);
}

}  // namespace
}  // namespace ttmem::model
