// The processor rules' pure parts: tt-metal's CB reservation, first sight, the op stack.
#include "ttmem_tracking.h"

#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace ttmem::integration {
namespace {

TEST(ProcessorRules, ACbIsReservedOnEveryCoreOfAnOverlappingRange) {
  // tt-metal's layout of three CBs on two overlapping, unequal ranges (checked against
  // Device::get_total_cb_allocated in a real run: tests/tt_metal_run_test.cc, case cb):
  // a 16 KiB on A = (0,0)-(1,1), b 8 KiB on B = (1,1)-(2,2), c 4 KiB on A. Each is marked on
  // both allocators, so every core of A and B holds [0, 28 KiB): 7 distinct cores.
  const CoreRect a{0, 0, 1, 1}, b{1, 1, 2, 2};
  const ProgramCb cbs[] = {{&a, 1, 16384, false}, {&b, 1, 8192, false}, {&a, 1, 4096, false}};
  uint64_t addresses[3] = {};
  EXPECT_EQ(CbReservedBytes(cbs, 3, 0x1000, 32, addresses), 7u * 28672);
  EXPECT_EQ(addresses[0], 0x1000u);
  EXPECT_EQ(addresses[1], 0x1000u + 16384);
  EXPECT_EQ(addresses[2], 0x1000u + 24576);
}

TEST(ProcessorRules, ARangeThatEndsAboveACbIsLeftAlone) {
  // a 16 KiB on A = (0,0)-(1,1), b 4 KiB on B = (2,2)-(3,3), c 8 KiB on C = (1,1)-(2,2).
  // a is marked on A and on C (C meets A and is still empty): [0, 16K). b goes at B's end, 0;
  // C meets B but already ends above 0, so tt-metal leaves C alone: B holds [0, 4K). c goes at
  // C's end, 16K, and is marked on A, on B (4K <= 16K: a second region) and on C.
  // Per core: A's 4 cores [0, 24K); B's [0, 4K) + [16K, 24K) = 12K; C's (1,2) and (2,1) [0, 24K);
  // (1,1) is A's; (2,2) merges B's and C's regions into [0, 24K).
  const CoreRect a{0, 0, 1, 1}, b{2, 2, 3, 3}, c{1, 1, 2, 2};
  const ProgramCb cbs[] = {{&a, 1, 16384, false}, {&b, 1, 4096, false}, {&c, 1, 8192, false}};
  uint64_t addresses[3] = {};
  EXPECT_EQ(CbReservedBytes(cbs, 3, 0, 32, addresses), 4u * 24576 + 3u * 12288 + 3u * 24576);
  EXPECT_EQ(addresses[1], 0u);
  EXPECT_EQ(addresses[2], 16384u);
}

TEST(ProcessorRules, DisjointRangesAndRangeSetsAreEachTheirOwn) {
  // 12 KiB on (0,0)-(0,1); 6 KiB on the set {(3,3)-(4,4), (6,0)}; a global CB takes nothing.
  const CoreRect a{0, 0, 0, 1};
  const CoreRect set[] = {{3, 3, 4, 4}, {6, 0, 6, 0}};
  const ProgramCb cbs[] = {{&a, 1, 12288, false}, {set, 2, 6144, false}, {&a, 1, 1 << 20, true}};
  uint64_t addresses[3] = {};
  EXPECT_EQ(CbReservedBytes(cbs, 3, 0x1000, 32, addresses), 2u * 12288 + 5u * 6144);
  EXPECT_EQ(addresses[1], 0x1000u);  // its own ranges are empty: from the base
  // Aligned: a 100-byte CB pushes the next one to the next 32-byte boundary; a gap is not held.
  const ProgramCb odd[] = {{&a, 1, 100, false}, {&a, 1, 64, false}};
  EXPECT_EQ(CbReservedBytes(odd, 2, 0x1000, 32, addresses), 2u * (100 + 64));
  EXPECT_EQ(addresses[1], 0x1000u + 128);
  EXPECT_EQ(CbReservedBytes(nullptr, 0, 0, 32), 0u);
  // A range outside any grid is ignored rather than walked.
  const CoreRect huge{0, 0, 1u << 30, 1u << 30};
  const ProgramCb bad[] = {{&huge, 1, 4096, false}};
  EXPECT_EQ(CbReservedBytes(bad, 1, 0, 32), 0u);
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
  // Cut at 63 bytes, never inside a UTF-8 character: 62 x's and a two-byte "é" keep the x's.
  const std::string accented = std::string(62, 'x') + "\xc3\xa9";
  FunctionStarted(accented.data(), accented.size());
  EXPECT_EQ(std::string(CurrentOp()), std::string(62, 'x'));
  FunctionEnded();
}

TEST(ProcessorRules, ResidentIdsAreApartFromBufferIds) {
  EXPECT_NE(ResidentId(true), ResidentId(false));
  EXPECT_GE(ResidentId(false), 1ull << 61);
}

}  // namespace
}  // namespace ttmem::integration
