#include "daemon/coverage.h"

#include <gtest/gtest.h>

namespace ttmem::daemon {
namespace {

constexpr uint64_t kS = 1'000'000'000ull, kMiB = 1 << 20;

TEST(Coverage, ALastingDifferenceBecomesAnAnomalyAfterTheSettleTime) {
  CoverageCheck c;
  std::vector<CoverageSample> s = {{42, 1, 0, 0, 8 * kMiB}};  // a path libttmem never saw
  c.Update(s, 10 * kS, 1000);
  EXPECT_TRUE(c.anomalies().empty());  // settling
  c.Update(s, 12 * kS, 3000);
  EXPECT_TRUE(c.anomalies().empty());
  c.Update(s, 13 * kS, 4000);
  ASSERT_EQ(c.anomalies().size(), 1u);
  EXPECT_EQ(c.anomalies()[0].figures.tt_metal_bytes, 8 * kMiB);
  EXPECT_EQ(c.anomalies()[0].figures.native_bytes, 0u);
  EXPECT_EQ(c.anomalies()[0].since_unix_ms, 1000u);
  // Agreeing again (the path is covered, or the process freed it): gone at once.
  c.Update({{42, 1, 0, 8 * kMiB, 8 * kMiB}}, 14 * kS, 5000);
  EXPECT_TRUE(c.anomalies().empty());
}

TEST(Coverage, TransientAndSmallDifferencesAreNotAnomalies) {
  CoverageCheck c;
  // A busy process: the two views differ by what is in flight, a different amount each time.
  for (uint64_t i = 0; i < 10; ++i)
    c.Update({{7, 0, 1, 4 * kMiB, 4 * kMiB + (i % 2 ? kMiB : 3 * kMiB)}}, i * kS, i * 1000);
  EXPECT_TRUE(c.anomalies().empty());
  // Within the tolerance: agreement.
  for (uint64_t i = 10; i < 20; ++i)
    c.Update({{7, 0, 3, 1000, 1000 + CoverageCheck::kToleranceBytes}}, i * kS, i * 1000);
  EXPECT_TRUE(c.anomalies().empty());
}

TEST(Coverage, PairsNoLongerSeenAreForgotten) {
  CoverageCheck c;
  c.Update({{5, 0, 4, kMiB, 0}}, 0, 0);
  c.Update({}, 2 * kS, 2000);  // the process left
  c.Update({{5, 0, 4, kMiB, 0}}, 4 * kS, 4000);
  EXPECT_TRUE(c.anomalies().empty());  // a new difference: settling from 4 s
  c.Update({{5, 0, 4, kMiB, 0}}, 7 * kS, 7000);
  ASSERT_EQ(c.anomalies().size(), 1u);
  EXPECT_EQ(c.anomalies()[0].since_unix_ms, 4000u);
}

}  // namespace
}  // namespace ttmem::daemon
