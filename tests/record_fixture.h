// record_fixture.h — a ttmemd for `ttmem record` / `ttmem report` tests, with the helpers they
// share (record_test.cc, report_why_test.cc).
#ifndef TTMEM_TESTS_RECORD_FIXTURE_H_
#define TTMEM_TESTS_RECORD_FIXTURE_H_

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/harness.h"

namespace ttmem::test {

using json = nlohmann::json;

inline const json* FindType(const json& report, uint32_t device, const std::string& type) {
  for (const auto& d : report["devices"])
    if (d["id"] == device)
      for (const auto& t : d["types"])
        if (t["type"] == type) return &t;
  return nullptr;
}

class Record : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(daemon_.Start()) << daemon_.log(); }
  std::vector<std::string> SimCmd(std::vector<std::string> args) {
    std::vector<std::string> v = {BinDir() + "/ttmem", "sim", "--socket", daemon_.socket()};
    v.insert(v.end(), args.begin(), args.end());
    return v;
  }
  CliResult RecordRun(const std::string& out, std::vector<std::string> cmd,
                      std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"record", "--socket", daemon_.socket(), "-o", out};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back("--");
    args.insert(args.end(), cmd.begin(), cmd.end());
    return RunCli(args);
  }
  json Report(const std::string& db, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"report", db, "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    CliResult r = RunCli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out, nullptr, false);
  }
  TempDir dir_;
  Daemon daemon_{dir_};
};

}  // namespace ttmem::test

#endif  // TTMEM_TESTS_RECORD_FIXTURE_H_
