// The resync log: compaction per (device, buffer id), and putting back a chunk that could not be
// delivered.
#include "client/resync_log.h"

#include <gtest/gtest.h>

#include "protocol/shm_abi.h"

namespace ttmem::client {
namespace {

proto::SyncRecord Alloc(uint32_t device, uint64_t id, uint64_t size) {
  return {id, id * 64, size, device, static_cast<uint8_t>(proto::RecordKind::kAlloc), 0, 0};
}
proto::SyncRecord Free(uint32_t device, uint64_t id) {
  return {id, 0, 0, device, static_cast<uint8_t>(proto::RecordKind::kFree), 0, 0};
}

ResyncLog::Chunk Take(ResyncLog& log, std::atomic<uint32_t>& mode) {
  return log.TakeAndEnd(mode, [] {});
}

TEST(ResyncLog, AnAllocationAndItsFreeCancelOut) {
  ResyncLog log;
  std::atomic<uint32_t> mode{1};
  ASSERT_TRUE(log.Add(mode, Alloc(0, 1, 100)));
  ASSERT_TRUE(log.Add(mode, Free(0, 1)));
  ASSERT_TRUE(log.Add(mode, Alloc(1, 1, 7)));  // the same id on another device is another buffer
  ASSERT_TRUE(log.Add(mode, Free(0, 2)));      // allocated before the log began: kept
  ResyncLog::Chunk c = Take(log, mode);
  EXPECT_EQ(mode.load(), 0u);
  EXPECT_EQ(c.events, 4u);
  ASSERT_EQ(c.allocs.size(), 1u);
  EXPECT_EQ(c.allocs[0].device, 1u);
  ASSERT_EQ(c.frees.size(), 1u);
  EXPECT_EQ(c.frees[0].buffer_id, 2u);
}

TEST(ResyncLog, NothingIsAddedOnceTheLogModeEnded) {
  ResyncLog log;
  std::atomic<uint32_t> mode{0};
  EXPECT_FALSE(log.Add(mode, Alloc(0, 1, 100)));
  mode = 1;
  EXPECT_TRUE(Take(log, mode).empty());
}

TEST(ResyncLog, AChunkPutBackComposesWithWhatCameSince) {
  ResyncLog log;
  std::atomic<uint32_t> mode{1};
  ASSERT_TRUE(log.Add(mode, Alloc(0, 5, 10)));
  ASSERT_TRUE(log.Add(mode, Free(0, 6)));
  ResyncLog::Chunk undelivered = Take(log, mode);
  mode = 1;
  ASSERT_TRUE(log.Add(mode, Free(0, 5)));       // frees what the undelivered chunk allocated
  ASSERT_TRUE(log.Add(mode, Alloc(0, 6, 20)));  // reuses the id the chunk freed
  log.PutBack(std::move(undelivered));
  ResyncLog::Chunk c = Take(log, mode);
  EXPECT_EQ(c.events, 4u);
  // Buffer 5 came and went; 6 was freed (allocated before the log) and allocated again.
  ASSERT_EQ(c.frees.size(), 1u);
  EXPECT_EQ(c.frees[0].buffer_id, 6u);
  ASSERT_EQ(c.allocs.size(), 1u);
  EXPECT_EQ(c.allocs[0].buffer_id, 6u);
  EXPECT_EQ(c.allocs[0].size, 20u);
}

}  // namespace
}  // namespace ttmem::client
