// Free space from reported addresses: per-bank footprints, merging across processes, clipping,
// gaps, the strip; hooked buffers and types without geometry take no part.
#include "daemon/fragmentation.h"

#include <gtest/gtest.h>

namespace ttmem::daemon {
namespace {

// One device's part of the whole computation (none: no announced geometry).
std::vector<TypeFragmentation> OneDevice(const ledger::Ledger& l, uint32_t device, uint32_t cells) {
  auto all = ComputeFragmentationAll(l, cells);
  auto it = all.find(device);
  return it == all.end() ? std::vector<TypeFragmentation>{} : it->second;
}

TEST(Fragmentation, FreeBlocksLargestGapAndStripFromAddresses) {
  ledger::Ledger l;
  ledger::DeviceInfo info;
  info.capacity_bytes[0] = 4 * 1000;  // DRAM: 4 banks of 1000 bytes at 100..1100
  info.bank_count[0] = 4;
  info.bank_base[0] = 100;
  info.capacity_bytes[5] = 4096;  // CB: no geometry, no view
  l.SetDeviceInfo(2, info);
  l.Alloc(1, 2, 0, 1, 100, 400);   // per bank [100, 200)
  l.Alloc(2, 2, 0, 1, 150, 401);   // [150, 251): overlaps, another process
  l.Alloc(1, 2, 0, 2, 600, 800);   // [600, 800)
  l.Alloc(1, 2, 0, 3, 1050, 800);  // [1050, 1250) clipped to [1050, 1100)
  l.Alloc(1, 2, 0, 4, 300, 400, ledger::Capture::kEstimate);  // a capture estimate: no memory
  l.Alloc(1, 2, 5, 5, 0, 64);                                 // CB
  l.Alloc(1, 3, 0, 6, 400, 400);                              // another device
  auto f = OneDevice(l, 2, 10);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].type, 0);
  EXPECT_EQ(f[0].bank_size, 1000u);
  EXPECT_EQ(f[0].used_per_bank, 151u + 200 + 50);
  EXPECT_EQ(f[0].free_per_bank, 1000u - 401);
  EXPECT_EQ(f[0].free_blocks, 2u);           // [251, 600) and [800, 1050)
  EXPECT_EQ(f[0].largest_free_block, 349u);  // [251, 600)
  EXPECT_EQ(f[0].map, "#:   ##  :");         // cells of 100 bytes from 100
  EXPECT_TRUE(OneDevice(l, 3, 10).empty());  // no announced geometry
  EXPECT_TRUE(OneDevice(l, 9, 10).empty());
  l.RemoveProcess(1);
  l.RemoveProcess(2);
  f = OneDevice(l, 2, 4);
  EXPECT_EQ(f[0].largest_free_block, 1000u);
  EXPECT_EQ(f[0].free_blocks, 1u);
  EXPECT_EQ(f[0].map, "    ");
}

}  // namespace
}  // namespace ttmem::daemon
