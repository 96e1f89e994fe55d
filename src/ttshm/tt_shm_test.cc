// The reader of tt-metal's statistics regions, on files laid out as tt-metal lays them out
// (EncodeRegion): what it accepts, what it refuses and why.
#include "ttshm/tt_shm.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace ttmem::ttshm {
namespace {

class TtShmReader : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ttshm-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const std::string& f : written_) std::remove(f.c_str());
    ::rmdir(dir_.c_str());
  }
  std::string Write(uint64_t chip, const std::string& bytes) {
    const std::string path = dir_ + "/tt_device_" + std::to_string(chip) + "_memory";
    std::ofstream(path, std::ios::binary) << bytes;
    written_.push_back(path);
    return path;
  }
  std::string dir_;
  std::vector<std::string> written_;
};

TEST_F(TtShmReader, ReadsTotalsSlotsAndTheChipFromTheFileName) {
  const std::string path =
      Write(123456789012, EncodeRegion(3, /*asic_id=*/0x14, 2,
                                       {{::getpid(), {100, 20, 3, 4, 5}, 1, "python3"},
                                        {0, {}, 0, ""},
                                        {999999, {7, 0, 0, 0, 0}, 2, "gone"}},
                                       0));
  Region r;
  std::string error;
  ASSERT_TRUE(ReadRegion(path, &r, &error)) << error;
  EXPECT_EQ(r.version, 3u);
  EXPECT_EQ(r.chip_id, 123456789012u);  // the name has the full id; the field only its low byte
  EXPECT_EQ(r.device_id, 2u);
  EXPECT_EQ(r.totals[0], 107u);
  ASSERT_EQ(r.processes.size(), 2u);  // free slots are not processes
  EXPECT_EQ(r.processes[0].name, "python3");
  EXPECT_EQ(r.processes[0].used[4], 5u);
}

TEST_F(TtShmReader, RefusesWhatItCannotRead) {
  Region r;
  std::string error;
  EXPECT_FALSE(ReadRegion(Write(1, EncodeRegion(3, 1, 0, {}, 0).substr(0, 100)), &r, &error));
  EXPECT_EQ(error, "100 bytes where version 3 has 8536");
  EXPECT_FALSE(ReadRegion(Write(2, EncodeRegion(9, 2, 0, {}, 0)), &r, &error));
  EXPECT_NE(error.find("layout version 9"), std::string::npos) << error;
  EXPECT_FALSE(ReadRegion(Write(3, EncodeRegion(4, 3, 0, {}, /*init_state=*/1)), &r, &error));
  EXPECT_NE(error.find("still initialising"), std::string::npos) << error;
  EXPECT_TRUE(ReadRegion(Write(4, EncodeRegion(4, 4, 0, {}, kReady)), &r, &error)) << error;
}

TEST_F(TtShmReader, DiscoverSaysWhichFilesItCouldNotUse) {
  Write(10, EncodeRegion(3, 10, 0, {}, 0));
  Write(11, std::string(8, 'x'));
  std::vector<std::string> problems;
  const std::vector<Region> regions = Discover(dir_, &problems);
  ASSERT_EQ(regions.size(), 1u);
  EXPECT_EQ(regions[0].chip_id, 10u);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("tt_device_11_memory"), std::string::npos) << problems[0];
}

TEST_F(TtShmReader, ADeadWritersSlotIsNotAlive) {
  Region r;
  std::string error;
  ASSERT_TRUE(ReadRegion(Write(20, EncodeRegion(3, 20, 0, {{999999, {1, 0, 0, 0, 0}, 1, "x"}}, 0)),
                         &r, &error))
      << error;
  CheckLiveness(&r);
  ASSERT_EQ(r.processes.size(), 1u);
  EXPECT_FALSE(r.processes[0].alive);
  EXPECT_FALSE(r.processes[0].stale_reason.empty());
}

}  // namespace
}  // namespace ttmem::ttshm
