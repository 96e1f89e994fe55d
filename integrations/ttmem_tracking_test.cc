// The processor rules' pure parts: the per-core union of CB ranges, first sight, the op stack.
#include "ttmem_tracking.h"

#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace ttmem::integration {
namespace {

TEST(ProcessorRules, CbUnionIsPerCoreAndMergesOverlaps) {
  // Two CBs end to end on a 2x1 range, one overlapping the first on core (0,0) only.
  CbPlacement cbs[] = {
      {0, 0, 1, 0, 0x1000, 0x100}, {0, 0, 1, 0, 0x1100, 0x200}, {0, 0, 0, 0, 0x1080, 0x100}};
  // Core (0,0): [0x1000, 0x1300) = 0x300; core (1,0): 0x100 + 0x200 = 0x300.
  EXPECT_EQ(CbUnionBytes(cbs, 3), 0x600u);
  // Disjoint ranges on one core are summed, not spanned.
  CbPlacement gap[] = {{2, 2, 2, 2, 0x1000, 0x10}, {2, 2, 2, 2, 0x2000, 0x10}};
  EXPECT_EQ(CbUnionBytes(gap, 2), 0x20u);
  EXPECT_EQ(CbUnionBytes(nullptr, 0), 0u);
}

TEST(ProcessorRules, ADeviceIsSeenFirstOnce) {
  EXPECT_TRUE(FirstSight(4242));
  EXPECT_FALSE(FirstSight(4242));
  EXPECT_FALSE(FirstSight(1u << 20));  // beyond the tracked ids: never announced
}

TEST(ProcessorRules, OpStackIsPerThreadBoundedAndCut) {
  EXPECT_STREQ(CurrentOp(), "");
  FunctionStarted("ttnn::matmul", 12);
  FunctionStarted("ttnn::prim::matmul", 18);
  EXPECT_STREQ(CurrentOp(), "ttnn::prim::matmul");
  std::thread([] { EXPECT_STREQ(CurrentOp(), ""); }).join();
  FunctionEnded();
  EXPECT_STREQ(CurrentOp(), "ttnn::matmul");
  FunctionEnded();
  FunctionEnded();  // unbalanced: stays at the bottom
  EXPECT_STREQ(CurrentOp(), "");
  const std::string long_name(200, 'x');
  for (int i = 0; i < 40; ++i) FunctionStarted(long_name.data(), long_name.size());
  EXPECT_EQ(std::string(CurrentOp()), std::string(63, 'x'));  // the 32nd level, cut at 63
  for (int i = 0; i < 40; ++i) FunctionEnded();
  EXPECT_STREQ(CurrentOp(), "");
}

TEST(ProcessorRules, ResidentIdsAreApartFromBufferIds) {
  EXPECT_NE(ResidentId(true), ResidentId(false));
  EXPECT_GE(ResidentId(false), 1ull << 61);
}

}  // namespace
}  // namespace ttmem::integration
