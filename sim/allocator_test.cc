#include "sim/allocator.h"

#include <gtest/gtest.h>

#include "sim/device.h"
#include "sim/program.h"

namespace ttsim {
namespace {

TEST(BankAllocator, InterleavedSizePerBank) {
  BankAllocator a("device 0 DRAM", 12, 0, 1 << 30, 32);
  EXPECT_EQ(a.SizePerBank(12 * 2048, 2048), 2048u);      // one page per bank
  EXPECT_EQ(a.SizePerBank(13 * 2048, 2048), 2 * 2048u);  // round-robin: one bank gets two
  EXPECT_EQ(a.SizePerBank(100, 100), 128u);              // aligned to 32
}

TEST(BankAllocator, BottomUpAndTopDownWithAlignment) {
  BankAllocator a("device 0 L1", 4, 1000, 10000, 16);
  uint64_t lo = a.Allocate(100, /*bottom_up=*/true, 400);
  uint64_t hi = a.Allocate(100, /*bottom_up=*/false, 400);
  EXPECT_EQ(lo, 1008u);  // first 16-aligned address at or above the base
  EXPECT_EQ(lo % 16, 0u);
  EXPECT_EQ(hi % 16, 0u);
  EXPECT_LE(hi + 112, 11000u);
  EXPECT_GT(hi, 10000u);  // from the top
  EXPECT_EQ(a.Stats().num_allocations, 2u);
  EXPECT_EQ(a.Stats().total_allocated_bytes, 224u);
}

TEST(BankAllocator, FreeCoalescesAndStatisticsAreRight) {
  BankAllocator a("x", 1, 0, 4096, 16);
  uint64_t x = a.Allocate(1024, true, 1024), y = a.Allocate(1024, true, 1024),
           z = a.Allocate(1024, true, 1024);
  EXPECT_EQ(a.Stats().largest_free_block_bytes, 1024u);
  EXPECT_TRUE(a.Deallocate(y));
  EXPECT_EQ(a.Stats().largest_free_block_bytes, 1024u);  // two separate 1 KiB holes
  EXPECT_TRUE(a.Deallocate(z));
  EXPECT_EQ(a.Stats().largest_free_block_bytes, 3072u);  // merged with the tail
  EXPECT_FALSE(a.Deallocate(y));
  EXPECT_TRUE(a.Deallocate(x));
  EXPECT_EQ(a.Stats().largest_free_block_bytes, 4096u);
  EXPECT_EQ(a.Stats().total_free_bytes, 4096u);
}

TEST(BankAllocator, OutOfMemoryNamesDeviceTypeRequestAndLargestBlock) {
  BankAllocator a("device 3 DRAM", 12, 0, 1 << 20, 32);
  a.Allocate(512 * 1024, true, 6 << 20);
  try {
    a.Allocate(768 * 1024, true, 9 << 20);
    FAIL() << "expected OutOfMemory";
  } catch (const OutOfMemory& e) {
    std::string m = e.what();
    // tt-metal's wording, per-bank figures, after the device.
    EXPECT_EQ(m,
              "device 3: Out of Memory: Not enough space to allocate 9437184 B DRAM buffer across "
              "12 banks, where each bank needs to store 786432 B, but bank size is 1048576 B "
              "(allocated: 524288 B, free: 524288 B, largest free block: 524288 B)");
  }
}

TEST(BankAllocator, AllocateAtForMeshLockStep) {
  BankAllocator a("x", 2, 0, 4096, 16);
  EXPECT_TRUE(a.AllocateAt(1024, 512));
  EXPECT_FALSE(a.AllocateAt(1200, 64));  // overlaps
  EXPECT_FALSE(a.AllocateAt(4090, 64));  // past the end
  EXPECT_EQ(a.Allocate(1024, true, 0), 0u);
}

TEST(Device, CircularBuffersClashWithL1BuffersAtDispatch) {
  Device d(0, *FindArch("wormhole_b0"));
  const ArchSpec& a = d.arch();
  // An L1 buffer of most of the bank, top-down, leaves little room for CBs at the bottom.
  uint64_t big = (a.l1_bank_size() - 64 * 1024) * a.num_cores();
  d.AllocateBuffer(MemType::kL1, big, big / a.num_cores(), false);
  CoreRange grid{0, 0, a.grid_x - 1, a.grid_y - 1};
  Program fits, clashes;
  fits.AddCircularBuffer(grid, {32 * 1024, nullptr});
  clashes.AddCircularBuffer(grid, {64 * 1024, nullptr});
  clashes.AddCircularBuffer(grid, {16 * 1024, nullptr});
  EXPECT_NO_THROW(fits.Launch(d));
  try {
    clashes.Launch(d);
    FAIL() << "expected a clash";
  } catch (const OutOfMemory& e) {
    EXPECT_NE(std::string(e.what()).find("clash with L1 buffers on core range"), std::string::npos)
        << e.what();
  }
  // The program that fitted is still the resident one.
  UsageByType u = d.UsageSnapshot();
  EXPECT_EQ(u[static_cast<int>(MemType::kCb)], (Usage{32 * 1024ull * a.num_cores(), 1}));
  EXPECT_EQ(u[static_cast<int>(MemType::kL1)].bytes, big);
}

TEST(Device, OnlyTheDispatchedProgramIsResident) {
  Device d(0, *FindArch("wormhole_b0"));
  const ArchSpec& a = d.arch();
  CoreRange grid{0, 0, a.grid_x - 1, a.grid_y - 1};
  std::vector<std::unique_ptr<Program>> cache;
  for (int i = 0; i < 100; ++i) {
    auto p = std::make_unique<Program>();
    p->AddCircularBuffer(grid, {8192, nullptr});
    p->AddCircularBuffer({0, 0, 0, 0}, {4096, nullptr});
    p->AddKernel(grid, 2048);
    p->Launch(d);
    cache.push_back(std::move(p));
  }
  for (auto& p : cache) p->Launch(d);
  UsageByType u = d.UsageSnapshot();
  // tt-metal's rule: the 4 KiB CB on core (0,0) is marked on the grid's allocator too (its range
  // overlaps), so every core of the grid reserves both.
  EXPECT_EQ(u[static_cast<int>(MemType::kCb)], (Usage{(8192ull + 4096) * a.num_cores(), 1}));
  EXPECT_EQ(u[static_cast<int>(MemType::kKernel)], (Usage{2048ull * a.num_cores(), 1}));
  cache.resize(50);  // the resident (last dispatched) one is gone with the others
  EXPECT_EQ(d.UsageSnapshot()[static_cast<int>(MemType::kCb)], (Usage{0, 0}));
  cache.front()->Launch(d);
  EXPECT_EQ(d.UsageSnapshot()[static_cast<int>(MemType::kCb)].count, 1u);
}

TEST(Device, KernelRegionIsBounded) {
  Device d(0, *FindArch("blackhole"));
  CoreRange one{0, 0, 0, 0};
  Program fits, too_big;
  fits.AddKernel(one, d.arch().kernel_config_size);
  too_big.AddKernel(one, d.arch().kernel_config_size);
  too_big.AddKernel(one, 16);
  EXPECT_NO_THROW(fits.Launch(d));
  EXPECT_THROW(too_big.Launch(d), OutOfMemory);
  EXPECT_EQ(d.UsageSnapshot()[static_cast<int>(MemType::kKernel)],
            (Usage{d.arch().kernel_config_size, 1}));
}

TEST(Arch, PresetsMatchPublicFigures) {
  const ArchSpec* wh = FindArch("wormhole_b0");
  const ArchSpec* bh = FindArch("blackhole");
  ASSERT_NE(wh, nullptr);
  ASSERT_NE(bh, nullptr);
  EXPECT_EQ(wh->dram_banks * wh->dram_bank_size, 12ull << 30);
  EXPECT_EQ(wh->l1_size, 1499136u);
  EXPECT_EQ(wh->num_cores(), 64u);
  EXPECT_EQ(bh->dram_banks * bh->dram_bank_size, 8ull * 4278190080ull);
  EXPECT_EQ(bh->num_cores(), 130u);
  EXPECT_EQ(FindArch("grayskull"), nullptr);
}

}  // namespace
}  // namespace ttsim
