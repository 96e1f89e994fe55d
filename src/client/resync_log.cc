#include "client/resync_log.h"

#include "protocol/shm_abi.h"

namespace ttmem::client {

void ResyncLog::AddLocked(Shard& s, const proto::SyncRecord& r) {
  Key k{r.device, r.buffer_id};
  if (r.kind == static_cast<uint8_t>(proto::RecordKind::kAlloc)) {
    s.allocs[k] = r;
  } else if (s.allocs.erase(k) == 0) {
    s.frees.insert(k);  // frees a buffer allocated before the log began (or an unknown one)
  }
}

bool ResyncLog::Add(const std::atomic<uint32_t>& mode, const proto::SyncRecord& r) {
  Shard& s = shards_[ShardOf(Key{r.device, r.buffer_id})];
  ttmem::base::MutexLock lock(s.mu);
  if (mode.load(std::memory_order_acquire) == 0) return false;
  AddLocked(s, r);
  ++s.events;
  return true;
}

ResyncLog::Chunk ResyncLog::TakeLocked() {
  Chunk c;
  for (Shard& s : shards_) {
    for (const Key& k : s.frees) {
      proto::SyncRecord r{};
      r.buffer_id = k.id;
      r.device = k.device;
      r.kind = static_cast<uint8_t>(proto::RecordKind::kFree);
      c.frees.push_back(r);
    }
    for (const auto& [k, r] : s.allocs) c.allocs.push_back(r);
    c.events += s.events;
    s.frees.clear();
    s.allocs.clear();
    s.events = 0;
  }
  return c;
}

void ResyncLog::PutBack(Chunk&& older) {
  // Compose: the older chunk happened first. Per shard, replay it into an empty shard, then
  // replay what was added since on top (its frees cancel older allocations).
  Shard fresh[kShards];
  for (const auto& r : older.frees) AddLocked(fresh[ShardOf(Key{r.device, r.buffer_id})], r);
  for (const auto& r : older.allocs) AddLocked(fresh[ShardOf(Key{r.device, r.buffer_id})], r);
  for (size_t i = 0; i < kShards; ++i) {
    Shard& s = shards_[i];
    ttmem::base::MutexLock lock(s.mu);
    Shard& o = fresh[i];
    for (const Key& k : s.frees) {
      if (o.allocs.erase(k) == 0) o.frees.insert(k);
    }
    for (const auto& [k, r] : s.allocs) o.allocs[k] = r;
    s.allocs.swap(o.allocs);
    s.frees.swap(o.frees);
  }
  // The events counted in `older` are counted again with the shard they return to.
  shards_[0].mu.lock();
  shards_[0].events += older.events;
  shards_[0].mu.unlock();
}

}  // namespace ttmem::client
