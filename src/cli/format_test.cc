#include "cli/format.h"

#include <gtest/gtest.h>

#include "model/status_json.h"

namespace ttmem::cli {
namespace {

TEST(Format, Bytes) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(12ull << 30), "12.0 GiB");
  EXPECT_EQ(FormatBytes(UINT64_MAX), "16.0 EiB");
}

TEST(Format, UsedOfTotalNeverShowsUnknownAsZero) {
  EXPECT_EQ(FormatUsedOfTotal(512, std::nullopt), "512 B / ?");
  EXPECT_EQ(FormatUsedOfTotal(1ull << 30, 4ull << 30), "1.0 GiB / 4.0 GiB (25%)");
}

TEST(Format, Bars) {
  EXPECT_EQ(Bar(0, 100, 4), "....");
  EXPECT_EQ(Bar(50, 100, 4), "##..");
  EXPECT_EQ(Bar(1, 1000, 4), "#...");  // in use is never drawn empty
  EXPECT_EQ(Bar(200, 100, 4), "####");
  EXPECT_EQ(Bar(5, std::nullopt, 3), "???");
  EXPECT_EQ(Bar(5, 10, 0), "");
}

TEST(Format, ChartScalesFillsFromTheBottomAndKeepsTheNewestOnTheRight) {
  auto rows = Chart({0, 50, 100, 1}, 100, 6, 2);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], "    # ");  // top row: only 100 % reaches it (50 % fills the bottom row)
  EXPECT_EQ(rows[1], "   ##.");  // 0 % blank; the newest (1 %) still shows
  EXPECT_EQ(rows[0].size(), 6u);
  auto cut = Chart({10, 20, 30, 40}, 40, 2, 1);  // only the newest fit
  EXPECT_EQ(cut[0], ":#");
  EXPECT_TRUE(Chart({1}, 1, 0, 3).empty());
  EXPECT_EQ(Chart({5}, 0, 2, 1)[0], " .");  // unknown scale: something, drawn minimal
}

TEST(Format, ShortBytes) {
  EXPECT_EQ(FormatBytesShort(0), "0");
  EXPECT_EQ(FormatBytesShort(1023), "1023");
  EXPECT_EQ(FormatBytesShort(1536), "1.5K");
  EXPECT_EQ(FormatBytesShort(12ull << 30), "12.0G");
  EXPECT_EQ(FormatBytesShort(UINT64_MAX), "16.0E");
}

TEST(Format, UsageLevels) {
  EXPECT_EQ(UsageLevel(0), 0);
  EXPECT_EQ(UsageLevel(59.9), 0);
  EXPECT_EQ(UsageLevel(60), 1);
  EXPECT_EQ(UsageLevel(85), 2);
}

TEST(Format, Truncate) {
  EXPECT_EQ(Truncate("abcdef", 10), "abcdef");
  EXPECT_EQ(Truncate("abcdef", 4), "abc~");
  EXPECT_EQ(Truncate("abcdef", 0), "");
}

TEST(Format, DeviceListAsRanges) {
  EXPECT_EQ(FormatDeviceList({}), "-");
  EXPECT_EQ(FormatDeviceList({0, 1, 2, 3, 4, 5, 6, 7}), "0-7");
  EXPECT_EQ(FormatDeviceList({5, 0, 2, 3, 4, 9}), "0,2-5,9");
  EXPECT_EQ(FormatDeviceList({31}), "31");
}

TEST(Format, TableAlignsColumns) {
  EXPECT_EQ(RenderTable({"A", ">N"}, {{"x", "1"}, {"long", "100"}}),
            "A       N\n"
            "x       1\n"
            "long  100\n");
}

TEST(Format, StatusShowsUnknownTotalsAsQuestionMarks) {
  const char* s = R"({
    "daemon": {"pid": 1, "socket": "/s", "uptime_ms": 0},
    "devices": [{"id": 3, "arch": null, "processes": [], "memory": {
      "dram": {"used_bytes": 2048, "buffers": 1, "total_bytes": null},
      "l1": {"used_bytes": 0, "buffers": 0, "total_bytes": 1024},
      "system_memory": {"used_bytes": 0, "buffers": 0, "total_bytes": null},
      "l1_small": {"used_bytes": 0, "buffers": 0, "total_bytes": null},
      "trace": {"used_bytes": 0, "buffers": 0, "total_bytes": null},
      "cb": {"used_bytes": 0, "buffers": 0, "total_bytes": null},
      "kernel": {"used_bytes": 0, "buffers": 0, "total_bytes": null}}}],
    "processes": [],
    "counters": {"unknown_frees": 4, "duplicate_allocs": 0, "dropped_events": 2, "live_buffers": 1}
  })";
  model::Status status;
  std::string error;
  ASSERT_TRUE(model::FromJsonText(s, &status, &error)) << error;
  std::string text = RenderStatus(status);
  EXPECT_NE(text.find("2.0 KiB / ?"), std::string::npos) << text;
  EXPECT_NE(text.find("0 B / 1.0 KiB (0%)"), std::string::npos) << text;
  EXPECT_NE(text.find("unknown frees 4"), std::string::npos) << text;
  EXPECT_NE(text.find("dropped events 2"), std::string::npos) << text;
  EXPECT_NE(text.find("No processes are reporting"), std::string::npos) << text;
}

}  // namespace
}  // namespace ttmem::cli
