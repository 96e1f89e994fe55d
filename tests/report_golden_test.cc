// The report's outputs kept byte for byte (issue 27): `ttmem report --json`, the text with
// `--advise`, and the HTML, on three recordings kept in tests/data/report (made by
// tests/data/report/make.sh: the simulator's leak, traced_model and churn). A refactor of the
// report must not change a byte; an intended change regenerates them (TTMEM_UPDATE_GOLDEN=1,
// then review the diff).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/harness.h"

namespace ttmem::test {
namespace {

std::string Slurped(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// The output of `ttmem ARGS` run in `dir` (the recording named relatively, as the report keeps
// the name it was given).
std::string RunIn(const std::string& dir, const std::string& args) {
  const std::string cmd = "cd '" + dir + "' && '" + BinDir() + "/ttmem' " + args;
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[65536];
  for (size_t n; (n = std::fread(buf, 1, sizeof(buf), p)) > 0;) out.append(buf, n);
  EXPECT_EQ(::pclose(p), 0) << cmd;
  return out;
}

class ReportGolden : public ::testing::TestWithParam<const char*> {};

TEST_P(ReportGolden, OutputsAreByteIdentical) {
  const std::string name = GetParam();
  const std::string data = std::string(TTMEM_TEST_DATA_DIR) + "/report/";
  TempDir dir;
  std::filesystem::copy_file(data + name + ".db", dir.File(name + ".db"));
  const std::string json =
      RunIn(dir.path(), "report " + name + ".db --json --html " + name + ".html");
  const std::string html = Slurped(dir.File(name + ".html"));
  const std::string text = RunIn(dir.path(), "report " + name + ".db --advise");
  if (std::getenv("TTMEM_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(data + name + ".json", std::ios::binary) << json;
    std::ofstream(data + name + ".html", std::ios::binary) << html;
    std::ofstream(data + name + ".txt", std::ios::binary) << text;
    GTEST_SKIP() << "golden documents of " << name << " rewritten";
  }
  ASSERT_FALSE(json.empty());
  EXPECT_TRUE(json == Slurped(data + name + ".json")) << "ttmem report --json of " << name;
  EXPECT_TRUE(html == Slurped(data + name + ".html")) << "ttmem report --html of " << name;
  EXPECT_TRUE(text == Slurped(data + name + ".txt")) << "ttmem report --advise of " << name;
}

// `--baseline` takes a recording or a report saved with --json, to the same effect.
TEST_P(ReportGolden, ABaselineMayBeASavedReport) {
  const std::string name = GetParam();
  const std::string data = std::string(TTMEM_TEST_DATA_DIR) + "/report/";
  TempDir dir;
  for (const char* f : {"leak.db", "churn.db"}) std::filesystem::copy_file(data + f, dir.File(f));
  std::filesystem::copy_file(data + name + ".json", dir.File("saved.json"));
  std::filesystem::copy_file(data + name + ".db", dir.File("saved.db"),
                             std::filesystem::copy_options::overwrite_existing);
  auto run = [&](const std::string& baseline) {
    const std::string cmd = "cd '" + dir.path() + "' && '" + BinDir() +
                            "/ttmem' report churn.db --json --baseline " + baseline;
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    char buf[65536];
    for (size_t n; (n = std::fread(buf, 1, sizeof(buf), p)) > 0;) out.append(buf, n);
    ::pclose(p);
    return nlohmann::json::parse(out, nullptr, false);
  };
  const nlohmann::json from_db = run("saved.db"), from_json = run("saved.json");
  ASSERT_TRUE(from_db.contains("comparison"));
  nlohmann::json a = from_db["comparison"], b = from_json["comparison"];
  // The baseline is named as given; everything else is the same.
  EXPECT_EQ(a["baseline"], "saved.db");
  EXPECT_EQ(b["baseline"], name + ".db");
  a.erase("baseline");
  b.erase("baseline");
  EXPECT_EQ(a, b);
}

INSTANTIATE_TEST_SUITE_P(Recordings, ReportGolden,
                         ::testing::Values("leak", "traced_model", "churn"));

}  // namespace
}  // namespace ttmem::test
