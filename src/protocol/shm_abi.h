// shm_abi.h — the shared-memory region a client passes to the daemon (protocol version 1).
//
// One region per client process: a memfd created by libttmem, sealed against shrinking
// (F_SEAL_SHRINK), passed once to ttmemd over the control socket with SCM_RIGHTS.
//
//   offset 0                     RegionHeader        (256 B)
//   256                          RingControl[ring_count]   (128 B each)
//   256 + 128*ring_count         Record[ring_count][ring_capacity]  (64 B each)
//
// Each ring is single-producer (one client thread) / single-consumer (the daemon):
//   - the producer writes Record[head % capacity], then stores head+1 (release);
//   - the daemon loads head (acquire), copies records [read, head) out, then stores read;
//   - the producer may overwrite a slot only when head - read < capacity.
// The daemon publishes `applied` (every record before it is in the ledger) for ttmem_flush.
// Ownership: fields under "producer" are written only by the client, under "daemon" only by the
// daemon. The daemon treats every client-written byte as hostile: it copies positions once,
// checks them against its own private copies and the capacity, and copies records before
// validating them. All integers are little-endian (x86-64 and aarch64 hosts).
#ifndef TTMEM_PROTOCOL_SHM_ABI_H_
#define TTMEM_PROTOCOL_SHM_ABI_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace ttmem::proto {

inline constexpr uint32_t kRegionMagic = 0x534d5454;  // "TTMS"
// 2 (issue 17): Record::op, RecordKind::kMark, the kOpName frame and the op bits of
// SyncRecord::flags. A version-1 client writes none of them (its reserved bytes are 0), so the
// daemon takes both; a version-2 client is refused by a version-1 daemon at hello, with a line
// naming both versions, rather than disconnected at its first scope.
inline constexpr uint32_t kProtocolVersion = 2;
inline constexpr uint32_t kMinProtocolVersion = 1;  // the oldest client the daemon serves
inline constexpr uint32_t kMaxRings = 1024;
inline constexpr uint32_t kMinRingCapacity = 64;
inline constexpr uint32_t kMaxRingCapacity = 1u << 20;

enum class RingState : uint32_t {
  kFree = 0,     // never used
  kActive = 1,   // owned by a live thread
  kRetired = 2,  // its thread exited; may be reclaimed by a new thread once drained
};

enum class RecordKind : uint8_t {
  kAlloc = 1,
  kFree = 2,
  kMark = 3,  // ttmem_mark: buffer_id is the mark's name id (OpNameBody); no device figures
};

// Record flags (alloc only).
inline constexpr uint16_t kFlagNone = 0;
inline constexpr uint16_t kFlagHooked = 0x1;  // == TTMEM_ALLOC_HOOKED: no device memory used
inline constexpr uint16_t kKnownFlags = kFlagHooked;

struct alignas(64) Record {
  uint64_t key;  // ordering key across a process's rings: its number in RegionHeader::sequence
  uint64_t buffer_id;
  uint64_t address;  // alloc only
  uint64_t size;     // alloc only
  uint32_t device;
  uint8_t kind;  // RecordKind
  uint8_t type;  // ttmem_mem_type (alloc only)
  uint16_t flags;
  uint32_t op;  // the thread's innermost scope (an OpNameBody id, < 4096); 0: none
  uint32_t reserved0;
  uint64_t reserved[2];
};
static_assert(sizeof(Record) == 64);
static_assert(offsetof(Record, op) == 40);
static_assert(offsetof(Record, device) == 32);

struct alignas(64) RingControl {
  // --- producer (client thread) cache line ---
  std::atomic<uint64_t> head;   // records written so far
  std::atomic<uint64_t> hold;   // head when the client last switched from its log back to its
                                // rings (see RegionHeader::sync_hold_seq)
  std::atomic<uint32_t> state;  // RingState
  uint32_t tid;                 // informational only
  uint8_t pad0[40];
  // --- daemon cache line ---
  std::atomic<uint64_t> read;     // records copied out by the daemon
  std::atomic<uint64_t> applied;  // records applied to the ledger (for ttmem_flush)
  uint8_t pad1[48];
};
static_assert(sizeof(RingControl) == 128);
static_assert(offsetof(RingControl, read) == 64);
static_assert(std::atomic<uint64_t>::is_always_lock_free);

struct alignas(64) RegionHeader {
  // --- written once by the client before the region is passed ---
  uint32_t magic;
  uint32_t version;
  uint32_t header_size;  // sizeof(RegionHeader)
  uint32_t ring_count;
  uint32_t ring_capacity;  // records per ring, a power of two
  uint32_t record_size;    // sizeof(Record)
  uint64_t region_size;    // bytes, == RegionSize(ring_count, ring_capacity)
  uint32_t clock;          // what `key` is: kClockSequence (3) from this library; 1 and 2 were
                           // earlier clients' clocks. Informational: never read by the daemon
  uint8_t pad0[28];
  // --- client process counters ---
  std::atomic<uint64_t> overflowed;     // events that bypassed the rings (full, or no ring left)
                                        // while a daemon was connected: dropped, then resynced
  std::atomic<uint64_t> lost_bad_args;  // events dropped: device >= 1024, unknown flags,
                                        // size > kMaxBufferBytes
  // Resync round `sync_hold_seq` is under way: ring records from each ring's `hold` on came
  // after the log the client is delivering; the daemon applies them only after that round's
  // kSyncEnd. Stored (release) before the client switches back to its rings.
  std::atomic<uint64_t> sync_hold_seq;
  // Rings [0, rings_used) have ever been claimed; the daemon scans only those. Raised (release)
  // by a claiming thread before its first record. A client that lowers it hides only its own
  // events (they wait in the ring, unapplied).
  std::atomic<uint32_t> rings_used;
  uint8_t pad1[36];
  // --- daemon-written ---
  std::atomic<uint32_t> wake_wanted;  // 1: the daemon sleeps long; the next writer wakes it
  uint8_t pad2[60];
  // --- client, every event (a line of its own) ---
  // The process's event sequence (clock kClockSequence): each record's ordering key is taken
  // from it with one atomic increment. Its order is consistent with happens-before, which is all
  // the daemon's merge needs (a free in one thread that made an id available before another
  // thread's allocation of it has the smaller key).
  std::atomic<uint64_t> sequence;
  uint8_t pad3[56];
};
static_assert(sizeof(RegionHeader) == 256);
static_assert(offsetof(RegionHeader, overflowed) == 64);
static_assert(offsetof(RegionHeader, sync_hold_seq) == 80);
static_assert(offsetof(RegionHeader, rings_used) == 88);
static_assert(offsetof(RegionHeader, wake_wanted) == 128);
static_assert(offsetof(RegionHeader, sequence) == 192);
static_assert(offsetof(RingControl, hold) == 8);

inline constexpr uint32_t kClockTsc = 1;        // (earlier clients) x86 TSC
inline constexpr uint32_t kClockMonotonic = 2;  // (earlier clients) CLOCK_MONOTONIC ns
inline constexpr uint32_t kClockSequence = 3;   // RegionHeader::sequence

constexpr uint64_t RegionSize(uint32_t ring_count, uint32_t ring_capacity) {
  return sizeof(RegionHeader) + uint64_t{ring_count} * sizeof(RingControl) +
         uint64_t{ring_count} * ring_capacity * sizeof(Record);
}

// The client's once-written part of a fresh (zeroed) region's header, for `rings` x `capacity`.
inline void InitRegionHeader(RegionHeader* h, uint32_t rings, uint32_t capacity) {
  h->magic = kRegionMagic;
  h->version = kProtocolVersion;
  h->header_size = sizeof(RegionHeader);
  h->ring_count = rings;
  h->ring_capacity = capacity;
  h->record_size = sizeof(Record);
  h->region_size = RegionSize(rings, capacity);
  h->clock = kClockSequence;
}

inline RingControl* RingAt(void* base, uint32_t i) {
  return reinterpret_cast<RingControl*>(static_cast<char*>(base) + sizeof(RegionHeader)) + i;
}

inline Record* RecordsOf(void* base, uint32_t ring_count, uint32_t ring_capacity, uint32_t i) {
  char* recs = static_cast<char*>(base) + sizeof(RegionHeader) + ring_count * sizeof(RingControl);
  return reinterpret_cast<Record*>(recs) + uint64_t{i} * ring_capacity;
}

}  // namespace ttmem::proto

#endif  // TTMEM_PROTOCOL_SHM_ABI_H_
