#include "ledger/ledger.h"

#include <map>
#include <random>

#include <gtest/gtest.h>

namespace ttmem::ledger {
namespace {

constexpr uint8_t kDram = 0, kL1 = 1, kCb = 5;

TEST(Ledger, AllocAndFreeKeepTotalsPerDeviceTypeAndProcess) {
  Ledger l;
  EXPECT_EQ(l.Alloc(10, 0, kDram, 1, 0x1000, 100), Result::kOk);
  EXPECT_EQ(l.Alloc(10, 0, kL1, 2, 0x2000, 50), Result::kOk);
  EXPECT_EQ(l.Alloc(11, 0, kDram, 1, 0x3000, 7), Result::kOk);  // same id, other process
  EXPECT_EQ(l.Alloc(10, 3, kCb, 1, 0, 9), Result::kOk);         // same id, other device
  const auto& d0 = l.devices().at(0).usage;
  EXPECT_EQ(d0[kDram], (Usage{107, 2}));
  EXPECT_EQ(d0[kL1], (Usage{50, 1}));
  EXPECT_EQ(l.devices().at(3).usage[kCb], (Usage{9, 1}));
  EXPECT_EQ(l.processes().at(10).usage.at(0)[kDram], (Usage{100, 1}));
  EXPECT_EQ(l.live_buffers(), 4u);
  EXPECT_EQ(l.Free(10, 0, 1), Result::kOk);
  EXPECT_EQ(l.devices().at(0).usage[kDram], (Usage{7, 1}));
  EXPECT_EQ(l.CheckInvariantsForTesting(), "");
}

TEST(Ledger, ReusedIdAfterFreeIsExact) {
  Ledger l;
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(l.Alloc(1, 0, kDram, 42, 0, 1000 + i), Result::kOk);
    ASSERT_EQ(l.Free(1, 0, 42), Result::kOk);
  }
  ASSERT_EQ(l.Alloc(1, 0, kL1, 42, 0, 5), Result::kOk);
  EXPECT_EQ(l.devices().at(0).usage[kDram], (Usage{0, 0}));
  EXPECT_EQ(l.devices().at(0).usage[kL1], (Usage{5, 1}));
  EXPECT_EQ(l.counters(), Counters{});
}

TEST(Ledger, UnknownFreeIsCountedAndChangesNothing) {
  Ledger l;
  l.Alloc(1, 0, kDram, 1, 0, 10);
  EXPECT_EQ(l.Free(1, 0, 99), Result::kUnknownFree);
  EXPECT_EQ(l.Free(1, 1, 1), Result::kUnknownFree);  // right id, wrong device
  EXPECT_EQ(l.Free(2, 0, 1), Result::kUnknownFree);  // right id, other process
  EXPECT_EQ(l.counters().unknown_frees, 3u);
  EXPECT_EQ(l.processes().at(1).counters.unknown_frees, 2u);
  EXPECT_EQ(l.devices().at(0).usage[kDram], (Usage{10, 1}));
  EXPECT_EQ(l.CheckInvariantsForTesting(), "");
}

TEST(Ledger, DuplicateAllocIsCountedAndReplacesTheOldEntry) {
  Ledger l;
  l.Alloc(1, 0, kDram, 1, 0, 100);
  EXPECT_EQ(l.Alloc(1, 0, kL1, 1, 0, 30), Result::kDuplicateAlloc);
  EXPECT_EQ(l.counters().duplicate_allocs, 1u);
  EXPECT_EQ(l.devices().at(0).usage[kDram], (Usage{0, 0}));
  EXPECT_EQ(l.devices().at(0).usage[kL1], (Usage{30, 1}));
  EXPECT_EQ(l.Free(1, 0, 1), Result::kOk);
  EXPECT_EQ(l.live_buffers(), 0u);
  EXPECT_EQ(l.CheckInvariantsForTesting(), "");
}

TEST(Ledger, HookedAllocationsAreACaptureEstimateNotDeviceUsage) {
  Ledger l;
  l.Alloc(1, 0, kDram, 1, 0x1000, 100);
  EXPECT_EQ(l.Alloc(1, 0, kDram, 2, 0, 4096, Capture::kEstimate), Result::kOk);
  EXPECT_EQ(l.devices().at(0).usage[kDram], (Usage{100, 1}));
  EXPECT_EQ(l.devices().at(0).captured[kDram], (Usage{4096, 1}));
  EXPECT_EQ(l.processes().at(1).captured.at(0)[kDram], (Usage{4096, 1}));
  EXPECT_EQ(l.CheckInvariantsForTesting(), "");
  EXPECT_EQ(l.Free(1, 0, 2), Result::kOk);
  EXPECT_EQ(l.devices().at(0).captured[kDram], (Usage{0, 0}));
  l.Alloc(1, 0, kL1, 3, 0, 64, Capture::kEstimate);
  EXPECT_EQ(l.RemoveProcess(1), 100u);  // reclaimed device memory; the estimate goes too
  EXPECT_EQ(l.devices().at(0).captured[kL1], (Usage{0, 0}));
  EXPECT_EQ(l.live_buffers(), 0u);
  EXPECT_EQ(l.CheckInvariantsForTesting(), "");
}

TEST(Ledger, InvalidTypeIsRejected) {
  Ledger l;
  EXPECT_EQ(l.Alloc(1, 0, 7, 1, 0, 1), Result::kInvalid);
  EXPECT_EQ(l.Alloc(1, 0, 255, 1, 0, 1), Result::kInvalid);
  EXPECT_EQ(l.live_buffers(), 0u);
}

TEST(Ledger, RemoveProcessReclaimsEverythingAndKeepsOthers) {
  Ledger l;
  l.Alloc(1, 0, kDram, 1, 0, 100);
  l.Alloc(1, 1, kL1, 2, 0, 200);
  l.Alloc(2, 0, kDram, 1, 0, 5);
  EXPECT_EQ(l.RemoveProcess(1), 300u);
  EXPECT_EQ(l.RemoveProcess(1), 0u);
  EXPECT_EQ(l.devices().at(0).usage[kDram], (Usage{5, 1}));
  EXPECT_EQ(l.devices().at(1).usage[kL1], (Usage{0, 0}));
  EXPECT_EQ(l.processes().count(1), 0u);
  EXPECT_EQ(l.live_buffers(), 1u);
  EXPECT_EQ(l.CheckInvariantsForTesting(), "");
}

TEST(Ledger, DroppedIsMonotonicPerProcessAndSummed) {
  Ledger l;
  l.SetDropped(1, 5);
  l.SetDropped(1, 3);  // never goes back
  l.SetDropped(2, 4);
  EXPECT_EQ(l.processes().at(1).counters.dropped_events, 5u);
  EXPECT_EQ(l.counters().dropped_events, 9u);
  l.RemoveProcess(1);
  EXPECT_EQ(l.counters().dropped_events, 9u);  // history of a gone process stays counted
}

TEST(Ledger, RandomOperationsKeepInvariants) {
  Ledger l;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20000; ++i) {
    pid_t pid = static_cast<pid_t>(1 + rng() % 4);
    uint32_t dev = static_cast<uint32_t>(rng() % 3);
    uint64_t id = rng() % 50;
    switch (rng() % 10) {
      case 0:
        l.RemoveProcess(pid);
        break;
      case 1:
      case 2:
      case 3:
      case 4:
        l.Free(pid, dev, id);
        break;
      default:
        l.Alloc(pid, dev, static_cast<uint8_t>(rng() % proto::kNumMemTypes), id, 0, rng() % 4096,
                rng() % 5 == 0 ? Capture::kEstimate : Capture::kNo);
    }
    if (i % 1000 == 0) {
      ASSERT_EQ(l.CheckInvariantsForTesting(), "") << "after op " << i;
    }
  }
  EXPECT_EQ(l.CheckInvariantsForTesting(), "");
}

// Issue 13: two allocations of 2^64-1 bytes wrapped device 0's total, subtracting from what
// everyone else used. Since issue 17 a size over kMaxSize (2^40, the C ABI's bound) is refused
// outright (a live entry keeps 41 bits of it); totals of up to 2^24 such buffers cannot wrap.
TEST(Ledger, SizesOverTheLargestBufferAreRefusedAndTotalsNeverWrap) {
  Ledger l;
  ASSERT_EQ(l.Alloc(10, 0, kDram, 1, 0, 1000), Result::kOk);
  EXPECT_EQ(l.Alloc(20, 0, kDram, 1, 0, UINT64_MAX), Result::kInvalid);
  EXPECT_EQ(l.Alloc(20, 0, kDram, 2, 0, kMaxSize + 1), Result::kInvalid);
  EXPECT_EQ(l.Alloc(20, 0, kDram, 3, 0, kMaxSize), Result::kOk);  // the largest: kept whole
  LiveBuffer b;
  ASSERT_TRUE(l.Find(20, 0, 3, &b));
  EXPECT_EQ(b.size, kMaxSize);
  EXPECT_FALSE(l.Find(20, 0, 1));
  EXPECT_FALSE(l.Find(20, 0, 2));
  EXPECT_EQ(l.devices().at(0).usage[kDram].bytes, kMaxSize + 1000);
  EXPECT_EQ(l.Free(20, 0, 3), Result::kOk);
  EXPECT_EQ(l.devices().at(0).usage[kDram].bytes, 1000u);
  EXPECT_EQ(l.CheckInvariantsForTesting(), "");
}

// Each allocation is stamped with the ledger's clock; a tolerant replay's new buffers with 0.
TEST(Ledger, AllocationsCarryWhenTheyWereMade) {
  Ledger l;
  l.SetNowSeconds(5);
  ASSERT_EQ(l.Alloc(1, 0, kDram, 1, 0, 10), Result::kOk);
  l.SetNowSeconds(9);
  ASSERT_EQ(l.Alloc(1, 0, kDram, 2, 0, 10, Capture::kNo, Replay::kTolerant), Result::kOk);
  ASSERT_EQ(l.Alloc(1, 0, kDram, 1, 0, 10, Capture::kNo, Replay::kTolerant), Result::kOk);
  l.SetNowSeconds(kMaxBornSeconds + 100);  // saturates
  ASSERT_EQ(l.Alloc(1, 0, kDram, 3, 0, 10), Result::kOk);
  std::map<uint64_t, uint64_t> born;
  for (const LiveEntry& e : l.processes().at(1).live) born[e.id] = e.born_s;
  EXPECT_EQ(born[1], 5u);  // replayed as it was: kept
  EXPECT_EQ(born[2], 0u);  // first seen in a replay: unknown
  EXPECT_EQ(born[3], kMaxBornSeconds);
}

}  // namespace
}  // namespace ttmem::ledger

namespace ttmem::ledger {
namespace {

// The bank geometry both the fragmentation view and the report's maps use.
TEST(BankGeometry, RangesAndPerBankShares) {
  const BankRange r = BankRangeOf(12 * 1024, 12, 0x100);
  EXPECT_EQ(r.lo, 0x100u);
  EXPECT_EQ(r.hi, 0x100u + 1024);
  EXPECT_EQ(PerBankBytes(12 * 1024, 12), 1024u);
  EXPECT_EQ(PerBankBytes(12 * 1024 + 1, 12), 1025u);  // a page more in one bank: rounded up
  EXPECT_EQ(PerBankBytes(UINT64_MAX, 2), UINT64_MAX / 2 + 1);  // no overflow
  EXPECT_EQ(PerBankBytes(100, 0), 100u);                       // unknown geometry: the whole size
  EXPECT_EQ(BankRangeOf(100, 0, 5).hi, 5u);                    // and no range
  EXPECT_EQ(BankRangeOf(UINT64_MAX, 1, 10).hi, UINT64_MAX);    // clamped, never wrapped
}

}  // namespace
}  // namespace ttmem::ledger
