// resync_log.h — where libttmem keeps events that cannot go to a ring: before any daemon is
// connected, after one went away, and after a ring overflowed. Compacted per (device, buffer_id):
// an allocation followed by its free cancels out, so the log holds at most the buffers allocated
// since it started plus the frees of buffers allocated before; applying its frees and then its
// allocations brings the daemon's accounts exactly to the truth.
//
// Thread-safe: 64 shards, each with its own mutex; the order of events of one (device, buffer_id)
// is kept because they always meet in the same shard. Only the slow paths take these locks.
#ifndef TTMEM_CLIENT_RESYNC_LOG_H_
#define TTMEM_CLIENT_RESYNC_LOG_H_

#include <atomic>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/thread_annotations.h"
#include "protocol/wire.h"

namespace ttmem::client {

class ResyncLog {
 public:
  struct Chunk {
    std::vector<proto::SyncRecord> frees;   // apply first
    std::vector<proto::SyncRecord> allocs;  // then these
    uint64_t events = 0;                    // events they stand for
    bool empty() const { return frees.empty() && allocs.empty() && events == 0; }
  };

  // Adds an event while `mode` is non-zero; returns false (nothing added) when the log mode has
  // ended meanwhile, so the caller writes to its ring instead.
  bool Add(const std::atomic<uint32_t>& mode, const proto::SyncRecord& r);
  // With every shard locked: calls snapshot() (the caller records its ring heads), moves
  // everything out and sets mode to 0, so events from here on go to the rings again.
  // (Every shard is locked in a loop, which the analysis cannot follow.)
  template <typename Snapshot>
  Chunk TakeAndEnd(std::atomic<uint32_t>& mode, Snapshot snapshot) TTMEM_NO_THREAD_SAFETY_ANALYSIS {
    for (Shard& s : shards_) s.mu.lock();
    snapshot();
    Chunk c = TakeLocked();
    mode.store(0, std::memory_order_release);
    for (Shard& s : shards_) s.mu.unlock();
    return c;
  }
  // Puts back a chunk that could not be delivered, composed with what was added since (shards
  // of its own, unshared, then each of ours under its lock).
  void PutBack(Chunk&& older) TTMEM_NO_THREAD_SAFETY_ANALYSIS;

 private:
  struct Key {
    uint32_t device;
    uint64_t id;
    bool operator==(const Key& o) const { return device == o.device && id == o.id; }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const noexcept {
      uint64_t h = k.id * 0x9E3779B97F4A7C15ull ^ (uint64_t{k.device} * 0xC2B2AE3D27D4EB4Full);
      return static_cast<size_t>(h ^ (h >> 29));
    }
  };
  struct Shard {
    mutable base::Mutex mu;
    std::unordered_map<Key, proto::SyncRecord, KeyHash> allocs TTMEM_GUARDED_BY(mu);
    std::unordered_set<Key, KeyHash> frees TTMEM_GUARDED_BY(mu);
    uint64_t events TTMEM_GUARDED_BY(mu) = 0;
  };
  static constexpr size_t kShards = 64;
  static size_t ShardOf(const Key& k) { return KeyHash()(k) % kShards; }
  static void AddLocked(Shard& s, const proto::SyncRecord& r) TTMEM_REQUIRES(s.mu);
  Chunk TakeLocked() TTMEM_NO_THREAD_SAFETY_ANALYSIS;  // every shard locked (TakeAndEnd)

  Shard shards_[kShards];
};

}  // namespace ttmem::client

#endif  // TTMEM_CLIENT_RESYNC_LOG_H_
