// The report model's JSON writer and reader (report_model.h), on the documents the golden test
// keeps (tests/data/report: `ttmem report --json` of three recordings).
#include "model/report.h"

#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace ttmem::model::report {
namespace {

std::string Slurped(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// The model's reader and writer agree: a saved report reads back into the same document.
TEST(ReportModel, ASavedReportReadsBackToTheSameDocument) {
  for (const std::string name : {"leak", "traced_model", "churn"}) {
    const std::string saved =
        Slurped(std::string(TTMEM_TEST_DATA_DIR) + "/report/" + name + ".json");
    Report r;
    std::string error;
    ASSERT_TRUE(FromJson(nlohmann::json::parse(saved), &r, &error)) << error;
    EXPECT_TRUE(ToJsonText(r) + "\n" == saved) << name;
  }
}

TEST(ReportModel, AMalformedSavedReportNamesWhatIsWrong) {
  const std::string saved = Slurped(std::string(TTMEM_TEST_DATA_DIR) + "/report/traced_model.json");
  nlohmann::json j = nlohmann::json::parse(saved);
  j["devices"][0]["types"][1]["peak_bytes"] = "lots";
  Report r;
  std::string error;
  EXPECT_FALSE(FromJson(j, &r, &error));
  EXPECT_EQ(error, "devices[0].types[1].peak_bytes is not an integer");
  j = nlohmann::json::parse(saved);
  j["advice"][0].erase("l1");
  EXPECT_FALSE(FromJson(j, &r, &error));
  EXPECT_EQ(error, "advice[0].l1 is missing");
  EXPECT_FALSE(FromJson(nlohmann::json::array(), &r, &error));
}

}  // namespace
}  // namespace ttmem::model::report
