// `--query FIELDS --format csv` on a status document: names checked, rows per device or per
// (process, device), fields quoted as RFC 4180 says.
#include "cli/fields.h"

#include <gtest/gtest.h>

#include "model/status_json.h"

namespace ttmem::cli {
namespace {

model::Status Doc() {
  model::Status s;
  std::string error;
  EXPECT_TRUE(model::FromJsonText(R"({
    "devices": [
      {"id": 0, "arch": "wormhole_b0",
       "memory": {"dram": {"used_bytes": 100, "total_bytes": 1000, "buffers": 2}},
       "processes": [{"pid": 42, "memory": {"dram": {"used_bytes": 100, "buffers": 2}}}]},
      {"id": 1, "arch": "wormhole_b0",
       "memory": {"dram": {"used_bytes": 0, "total_bytes": 1000, "buffers": 0}},
       "processes": []}],
    "processes": [
      {"pid": 42, "name": "py,thon \"x\"", "devices": [0],
       "memory": {"dram": {"used_bytes": 100, "buffers": 2}}}]
  })",
                                  &s, &error))
      << error;
  return s;
}

TEST(Fields, UnknownNamesAreRefusedWithTheFix) {
  std::vector<std::string> fields;
  std::string error;
  EXPECT_TRUE(ParseFields("device.id, device.dram.used_bytes", &fields, &error)) << error;
  EXPECT_EQ(fields.size(), 2u);
  EXPECT_FALSE(ParseFields("device.id,device.hbm.used_bytes", &fields, &error));
  EXPECT_NE(error.find("device.hbm.used_bytes"), std::string::npos) << error;
}

TEST(Fields, DeviceRowsAndProcessRows) {
  EXPECT_EQ(RenderCsv(Doc(), {"device.id", "device.dram.used_bytes"}, true),
            "device.id,device.dram.used_bytes\n0,100\n1,0\n");
  // With a process field: one row per (process, device it holds memory on); the name quoted.
  EXPECT_EQ(
      RenderCsv(Doc(), {"process.pid", "process.name", "device.id", "process.dram.used_bytes"},
                false),
      "42,\"py,thon \"\"x\"\"\",0,100\n");
}

TEST(Fields, EveryDocumentedFieldParses) {
  std::vector<std::string> fields;
  std::string error;
  std::string all;
  for (const std::string& f : AllFields()) all += (all.empty() ? "" : ",") + f;
  EXPECT_TRUE(ParseFields(all, &fields, &error)) << error;
  EXPECT_EQ(fields.size(), AllFields().size());
}

}  // namespace
}  // namespace ttmem::cli
