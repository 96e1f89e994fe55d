// libttmem: the in-process client. Hot path: one record into this thread's ring; everything else
// (connecting, handing the region to the daemon, reconnecting) happens on a background thread.
//
// Kept C++17-compatible and free of dependencies beyond libc/libstdc++ so tt-metal can embed it.
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/socket.h"
#include "client/client_internal.h"
#include "protocol/frames.h"
#include "protocol/paths.h"
#include "protocol/shm_abi.h"
#include "protocol/wire.h"
#define TTMEM_NO_INLINE  // the library defines the functions the inline checks call
#include "ttmem/ttmem.h"

// Read by the inline disabled check in ttmem.h; written only through SetState().
extern "C" {
__attribute__((visibility("default"))) int ttmem_internal_off = 0;
}
#define TTMEM_LIKELY(x) __builtin_expect(!!(x), 1)
#define TTMEM_UNLIKELY(x) __builtin_expect(!!(x), 0)

namespace ttmem::client {

// Definitions of the state shared with the connector (client_internal.h). Plain data, or heap
// objects never freed, so that threads still running during static destruction, and fork
// children, never touch a destroyed object.
Link g_link;
base::Mutex g_sock_mu;
proto::DeviceInfoBody g_devices[kMaxAnnounced];
int g_num_devices = 0;
proto::SetTagBody g_tag;
bool g_has_tag = false;

void WakeDaemon() {
  int fd = g_link.wake_fd.load(std::memory_order_relaxed);
  if (fd < 0) return;
  uint64_t one = 1;
  ssize_t n = ::write(fd, &one, sizeof(one));
  (void)n;
}

ResyncLog::Chunk TakeLogAndSwitchToRings(uint64_t* sequence) {
  return g_link.log->TakeAndEnd(g_link.log_mode, [&] {
    // Ring records from here on come after the log being taken: the daemon holds them back
    // until this round's kSyncEnd. Published before the switch (TakeAndEnd stores the mode).
    for (uint32_t i = 0; i < g_link.region.ring_count; ++i) {
      proto::RingControl* ctl = proto::RingAt(g_link.region.base, i);
      ctl->hold.store(ctl->head.load(std::memory_order_acquire), std::memory_order_relaxed);
    }
    *sequence = g_link.region.header->sync_hold_seq.load(std::memory_order_relaxed) + 1;
    g_link.region.header->sync_hold_seq.store(*sequence, std::memory_order_release);
    g_link.overflow.store(0);
    g_link.sync_inflight.store(1);  // cleared by the connector once delivered (or put back)
  });
}

void EnterLogMode() {
  g_link.log_mode.store(1);
  if (g_link.connector_wake >= 0) {
    uint64_t one = 1;
    ssize_t n = ::write(g_link.connector_wake, &one, sizeof(one));
    (void)n;
  }
}

}  // namespace ttmem::client

namespace {

using namespace ttmem::client;  // NOLINT: this file implements the shared state
using ttmem::proto::Record;
using ttmem::proto::RegionHeader;
using ttmem::proto::RingControl;
using ttmem::proto::RingState;

static_assert(TTMEM_MAX_DEVICES == ttmem::proto::kMaxDevices);
static_assert(TTMEM_MAX_BUFFER_BYTES == ttmem::proto::kMaxBufferBytes);
static_assert(TTMEM_DEVICE_UNIQUE_ID_VALID == ttmem::proto::kDeviceUniqueIdValid);
static_assert(TTMEM_MEM_TYPE_COUNT == ttmem::proto::kMemTypeCount);
static_assert(TTMEM_ALLOC_HOOKED == ttmem::proto::kFlagHooked);
static_assert(TTMEM_MAX_SCOPE_NAMES == ttmem::proto::kMaxOpNames);
static_assert(TTMEM_MAX_SCOPE_NAME == ttmem::proto::kMaxOpName);
static_assert(ttmem::proto::kMaxOpNames < (1u << (16 - ttmem::proto::kSyncOpShift)));

enum State : int { kUninit = 0, kDisabled = 1, kEnabled = 2 };

std::atomic<int> g_state{kUninit};

// Mirrors g_state == kDisabled for the inline check in ttmem.h.
void SetState(int st) {
  __atomic_store_n(&ttmem_internal_off, st == kDisabled ? 1 : 0, __ATOMIC_RELAXED);
  g_state.store(st, std::memory_order_release);
}
ttmem::base::Mutex g_init_mu;  // guards initialisation

// Per-thread ring handle: POD, initial-exec TLS so the hot path reads it with one instruction.
struct ThreadRing {
  RingControl* ctl;
  Record* records;
  uint64_t head;
  uint64_t cached_read;
  uint32_t mask;
  uint32_t index;
};
__attribute__((tls_model("initial-exec"))) thread_local ThreadRing t_ring;

// The thread's scopes (ttmem_scope_push / pop): `op` is the innermost one's id, what every record
// of the thread carries. Not reset at fork: the forking thread's child is still inside them.
struct ThreadScopes {
  uint32_t op;     // 0: none
  uint32_t depth;  // pushes not yet popped (may exceed what `ids` holds)
  uint16_t ids[TTMEM_MAX_SCOPE_DEPTH];
};
__attribute__((tls_model("initial-exec"))) thread_local ThreadScopes t_scopes;
pthread_key_t g_thread_key;  // its destructor retires the thread's ring

// The record's ordering key: the process's event sequence. One uncontended atomic increment
// (~2 ns here) instead of lfence + rdtsc (~10 ns on the benchmark machine's EPYC;
// docs/benchmarks.md). A locked increment is also a full barrier, so the key is taken after the
// app's earlier loads (e.g. the lock acquire that made a reused id available).
inline uint64_t NextKey(ttmem::proto::RegionHeader* hdr) {
  return hdr->sequence.fetch_add(1, std::memory_order_relaxed);
}

// Overflow policy: the ring is full. With a daemon connected, wake it and wait for space, at most
// g_full_wait_ns (TTMEM_FULL_WAIT_US, default 10000 us); without one, or after the wait, the
// caller drops the event and counts it. Off the hot path: only a full ring gets here.
uint64_t g_full_wait_ns = 10000000;

bool WaitForSpace(ThreadRing* r, uint64_t head) {
  if ((g_link.connected.load(std::memory_order_relaxed) == 0 &&
       g_link.connecting.load(std::memory_order_relaxed) == 0) ||
      g_full_wait_ns == 0)
    return false;
  WakeDaemon();
  const uint64_t deadline = ttmem::base::MonotonicNs() + g_full_wait_ns;
  for (;;) {
    timespec pause{0, 20000};
    ::nanosleep(&pause, nullptr);
    r->cached_read = r->ctl->read.load(std::memory_order_acquire);
    if (head - r->cached_read <= r->mask) return true;
    if (ttmem::base::MonotonicNs() >= deadline) return false;
  }
}

void RetireThreadRing(void*) {
  ThreadRing& r = t_ring;
  if (r.ctl == nullptr) return;
  r.ctl->state.store(static_cast<uint32_t>(RingState::kRetired), std::memory_order_release);
  r.ctl = nullptr;
  g_link.rings_in_use.fetch_sub(1, std::memory_order_relaxed);
}

// Claims a free ring, or a retired one the daemon has fully drained. Slow path, once per thread.
bool ClaimRing(ThreadRing* r) {
  const Region& reg = g_link.region;
  for (uint32_t i = 0; i < reg.ring_count; ++i) {
    RingControl* ctl = ttmem::proto::RingAt(reg.base, i);
    uint32_t st = ctl->state.load(std::memory_order_acquire);
    if (st == static_cast<uint32_t>(RingState::kRetired)) {
      if (ctl->read.load(std::memory_order_acquire) != ctl->head.load(std::memory_order_relaxed))
        continue;  // still holds undrained records
    } else if (st != static_cast<uint32_t>(RingState::kFree)) {
      continue;
    }
    if (!ctl->state.compare_exchange_strong(st, static_cast<uint32_t>(RingState::kActive),
                                            std::memory_order_acq_rel))
      continue;
    ctl->tid = static_cast<uint32_t>(::syscall(SYS_gettid));
    r->ctl = ctl;
    r->records = ttmem::proto::RecordsOf(reg.base, reg.ring_count, reg.ring_capacity, i);
    r->head = ctl->head.load(std::memory_order_relaxed);
    r->cached_read = ctl->read.load(std::memory_order_acquire);
    r->mask = reg.ring_capacity - 1;
    r->index = i;
    // Before the first record: the daemon scans rings [0, rings_used).
    auto* hdr = static_cast<ttmem::proto::RegionHeader*>(reg.base);
    uint32_t used = hdr->rings_used.load(std::memory_order_relaxed);
    while (used < i + 1 &&
           !hdr->rings_used.compare_exchange_weak(used, i + 1, std::memory_order_release)) {
    }
    g_link.rings_in_use.fetch_add(1, std::memory_order_relaxed);
    pthread_setspecific(g_thread_key, reinterpret_cast<void*>(1));
    return true;
  }
  return false;
}

// Slow path: the event goes to the resync log. Returns false when the log mode ended meanwhile.
__attribute__((noinline)) bool LogEvent(ttmem::proto::RecordKind kind, uint32_t device,
                                        uint8_t type, uint64_t id, uint64_t address, uint64_t size,
                                        uint16_t flags) {
  if (kind == ttmem::proto::RecordKind::kMark) return true;  // marks are not kept in the log
  const auto with_op =
      static_cast<uint16_t>(flags | (t_scopes.op << ttmem::proto::kSyncOpShift));  // op < 4096
  ttmem::proto::SyncRecord rec{id,   address, size, device, static_cast<uint8_t>(kind),
                               type, with_op};
  if (!g_link.log->Add(g_link.log_mode, rec)) return false;
  g_link.logged.fetch_add(1, std::memory_order_relaxed);
  // During an overflow episode, an event that bypasses the rings counts as dropped (and
  // resynced); before the first connection or after a daemon went away it does not.
  if (g_link.overflow.load(std::memory_order_relaxed) != 0)
    g_link.region.header->overflowed.fetch_add(1, std::memory_order_relaxed);
  return true;
}

// Out of line, so that the exported entry points are a load, a compare and a tail call: the
// disabled path then costs one predictable branch and no stack frame.
__attribute__((noinline)) void Write(ttmem::proto::RecordKind kind, uint32_t device, uint8_t type,
                                     uint64_t id, uint64_t address, uint64_t size, uint16_t flags) {
  RegionHeader* hdr = g_link.region.header;
  if (TTMEM_UNLIKELY(device >= TTMEM_MAX_DEVICES || size > TTMEM_MAX_BUFFER_BYTES)) {
    hdr->lost_bad_args.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  ThreadRing& r = t_ring;
  for (;;) {
    if (TTMEM_UNLIKELY(g_link.log_mode.load(std::memory_order_relaxed) != 0) &&
        LogEvent(kind, device, type, id, address, size, flags))
      return;
    if (TTMEM_UNLIKELY(r.ctl == nullptr) && !ClaimRing(&r)) {
      // No ring left for this thread (raise TTMEM_RINGS): its events go through the log.
      g_link.overflow.store(1);
      EnterLogMode();
      continue;
    }
    uint64_t head = r.head;
    if (TTMEM_UNLIKELY(head - r.cached_read > r.mask)) {
      r.cached_read = r.ctl->read.load(std::memory_order_acquire);
      if (head - r.cached_read > r.mask && !WaitForSpace(&r, head)) {
        // Still full: this event and every later one go to the resync log until it is delivered.
        g_link.overflow.store(1);
        EnterLogMode();
        continue;
      }
    }
    break;
  }
  uint64_t head = r.head;
  Record* rec = &r.records[head & r.mask];
  rec->key = NextKey(hdr);
  rec->buffer_id = id;
  rec->address = address;
  rec->size = size;
  rec->device = device;
  rec->kind = static_cast<uint8_t>(kind);
  rec->type = type;
  rec->flags = flags;
  rec->op = t_scopes.op;
  r.head = head + 1;
  r.ctl->head.store(head + 1, std::memory_order_release);
  if (TTMEM_UNLIKELY(hdr->wake_wanted.load(std::memory_order_relaxed) != 0) &&
      hdr->wake_wanted.exchange(0, std::memory_order_relaxed) != 0) {
    WakeDaemon();
  } else if (TTMEM_UNLIKELY(head + 1 - r.cached_read == (r.mask >> 1) + 1)) {
    // Half full since the daemon's position was last read: a burst faster than the daemon's
    // 2 ms tick would fill the ring and make this thread wait for space. Wake the daemon now
    // (one write a half ring) while there is room left.
    r.cached_read = r.ctl->read.load(std::memory_order_acquire);
    if (head + 1 - r.cached_read > (r.mask >> 1)) WakeDaemon();
  }
}

// The same event on several devices: consecutive keys and slots, one publish. Anything unusual
// (a bad argument, the log mode, no ring yet, not enough room, more devices than a quarter ring)
// goes through Write one device at a time, which handles it.
void WriteMany(ttmem::proto::RecordKind kind, const uint32_t* devices, uint32_t count, uint8_t type,
               uint64_t id, uint64_t address, uint64_t size, uint16_t flags) {
  RegionHeader* hdr = g_link.region.header;
  ThreadRing& r = t_ring;
  bool simple = size <= TTMEM_MAX_BUFFER_BYTES && r.ctl != nullptr && count <= (r.mask >> 2) &&
                g_link.log_mode.load(std::memory_order_relaxed) == 0;
  for (uint32_t i = 0; simple && i < count; ++i) simple = devices[i] < TTMEM_MAX_DEVICES;
  const uint64_t head = r.head;
  if (simple && head + count - r.cached_read > uint64_t{r.mask} + 1) {
    r.cached_read = r.ctl->read.load(std::memory_order_acquire);
    simple = head + count - r.cached_read <= uint64_t{r.mask} + 1;
  }
  if (!simple) {
    for (uint32_t i = 0; i < count; ++i) Write(kind, devices[i], type, id, address, size, flags);
    return;
  }
  const uint64_t key = hdr->sequence.fetch_add(count, std::memory_order_relaxed);
  const uint32_t op = t_scopes.op;
  for (uint32_t i = 0; i < count; ++i) {
    Record* rec = &r.records[(head + i) & r.mask];
    rec->key = key + i;
    rec->buffer_id = id;
    rec->address = address;
    rec->size = size;
    rec->device = devices[i];
    rec->kind = static_cast<uint8_t>(kind);
    rec->type = type;
    rec->flags = flags;
    rec->op = op;
  }
  r.head = head + count;
  r.ctl->head.store(head + count, std::memory_order_release);
  const uint64_t half = (r.mask >> 1) + 1;
  if (TTMEM_UNLIKELY(hdr->wake_wanted.load(std::memory_order_relaxed) != 0) &&
      hdr->wake_wanted.exchange(0, std::memory_order_relaxed) != 0) {
    WakeDaemon();
  } else if (TTMEM_UNLIKELY(head - r.cached_read < half && head + count - r.cached_read >= half)) {
    r.cached_read = r.ctl->read.load(std::memory_order_acquire);  // as in Write: half full
    if (head + count - r.cached_read >= half) WakeDaemon();
  }
}

// ---------------------------------------------------------------------------------------------
// Initialisation and fork.

// Held across fork() on purpose: the analysis cannot follow a lock taken here and released in
// the parent or the child.
void AtForkPrepare() TTMEM_NO_THREAD_SAFETY_ANALYSIS {
  g_init_mu.lock();
  g_sock_mu.lock();
  LockOpNames();
}
void AtForkParent() TTMEM_NO_THREAD_SAFETY_ANALYSIS {
  UnlockOpNames();
  g_sock_mu.unlock();
  g_init_mu.unlock();
}
// The child must never write into the parent's region: drop it and start afresh on next use.
void AtForkChild() TTMEM_NO_THREAD_SAFETY_ANALYSIS {
  // The parent's link is not the child's: close what it holds, then start from a fresh one (the
  // parent's log too is left behind: its locks may be held by threads the child does not have).
  Link& l = g_link;
  if (l.region.base != nullptr) ::munmap(l.region.base, l.region.size);
  for (int fd : {l.region.memfd, l.sock_fd, l.wake_fd.load(), l.state_fd, l.connector_wake})
    if (fd >= 0) ::close(fd);
  l.~Link();
  new (&l) Link();
  t_ring = ThreadRing{};
  SetState(kUninit);
  UnlockOpNames();  // the names (and this thread's scopes) stay: ids mean the same in the child
  g_sock_mu.unlock();
  g_init_mu.unlock();
}

bool g_atfork_registered TTMEM_GUARDED_BY(g_init_mu) = false;

__attribute__((noinline, cold)) int InitSlow() {
  ttmem::base::MutexLock lock(g_init_mu);
  int st = g_state.load(std::memory_order_acquire);
  if (st != kUninit) return st;
  if (!g_atfork_registered) {
    pthread_key_create(&g_thread_key, RetireThreadRing);
    pthread_atfork(AtForkPrepare, AtForkParent, AtForkChild);
    g_atfork_registered = true;
  }
  const char* env = std::getenv("TT_ALLOC_TRACKING_ENABLED");
  if (env == nullptr || std::strcmp(env, "1") != 0 || !CreateRegion(&g_full_wait_ns)) {
    SetState(kDisabled);
    return kDisabled;
  }
  g_link.log = new ttmem::client::ResyncLog();  // never freed: threads may report during exit
  g_link.connector_wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  g_link.log_mode.store(1);  // until a daemon has our (empty) log and we switch to the rings
  pthread_t thread;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  // Block every signal in the connector so the app's handlers run on the app's threads.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  // First attempt inline, so that a process that starts bursting at once finds the daemon
  // draining: a Unix connect fails at once when nobody listens, and a daemon that accepts but
  // does not answer costs at most 250 ms, once.
  auto* first = new InitialConnection(ConnectAtInit(250));
  // Connected before anything was reported: the log is empty, straight to the rings.
  if (g_link.connected.load() != 0) g_link.log_mode.store(0);
  int rc = pthread_create(&thread, &attr, ConnectorMain, first);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_attr_destroy(&attr);
  (void)rc;  // without the thread the app still runs; events stay in the log
  SetState(kEnabled);
  return kEnabled;
}

inline bool Enabled() {
  int st = g_state.load(std::memory_order_acquire);
  if (TTMEM_LIKELY(st == kEnabled)) return true;
  return st == kUninit && InitSlow() == kEnabled;
}

__attribute__((constructor)) void InitAtLoad() {
  (void)Enabled();
}

}  // namespace

bool ttmem::client::TrackingEnabled() {
  return Enabled();
}

// ---------------------------------------------------------------------------------------------
// The C ABI.

TTMEM_EXPORT int ttmem_enabled(void) {
  return Enabled() ? 1 : 0;
}

TTMEM_EXPORT void ttmem_alloc(uint32_t device, ttmem_mem_type type, uint64_t buffer_id,
                              uint64_t address, uint64_t size) {
  if (Enabled())
    Write(ttmem::proto::RecordKind::kAlloc, device, static_cast<uint8_t>(type), buffer_id, address,
          size, 0);
}

TTMEM_EXPORT void ttmem_alloc_ex(uint32_t device, ttmem_mem_type type, uint64_t buffer_id,
                                 uint64_t address, uint64_t size, uint32_t flags) {
  if (TTMEM_UNLIKELY(g_state.load(std::memory_order_acquire) != kEnabled) && !Enabled()) return;
  if (TTMEM_UNLIKELY((flags & ~uint32_t{ttmem::proto::kKnownFlags}) != 0)) {
    g_link.region.header->lost_bad_args.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  Write(ttmem::proto::RecordKind::kAlloc, device, static_cast<uint8_t>(type), buffer_id, address,
        size, static_cast<uint16_t>(flags));
}

TTMEM_EXPORT void ttmem_free(uint32_t device, uint64_t buffer_id) {
  if (Enabled()) Write(ttmem::proto::RecordKind::kFree, device, 0, buffer_id, 0, 0, 0);
}

TTMEM_EXPORT void ttmem_alloc_devices(const uint32_t* devices, uint32_t count, ttmem_mem_type type,
                                      uint64_t buffer_id, uint64_t address, uint64_t size,
                                      uint32_t flags) {
  if (devices == nullptr || count == 0 || !Enabled()) return;
  if (TTMEM_UNLIKELY((flags & ~uint32_t{ttmem::proto::kKnownFlags}) != 0)) {
    g_link.region.header->lost_bad_args.fetch_add(count, std::memory_order_relaxed);
    return;
  }
  WriteMany(ttmem::proto::RecordKind::kAlloc, devices, count, static_cast<uint8_t>(type), buffer_id,
            address, size, static_cast<uint16_t>(flags));
}

TTMEM_EXPORT void ttmem_free_devices(const uint32_t* devices, uint32_t count, uint64_t buffer_id) {
  if (devices == nullptr || count == 0 || !Enabled()) return;
  WriteMany(ttmem::proto::RecordKind::kFree, devices, count, 0, buffer_id, 0, 0, 0);
}

TTMEM_EXPORT int ttmem_scope_push(const char* name) {
  ThreadScopes& sc = t_scopes;
  const uint32_t id = Enabled() ? InternOpName(name) : 0;
  const uint32_t d = sc.depth++;  // every push counts, so that pops stay balanced
  if (id == 0 || d >= TTMEM_MAX_SCOPE_DEPTH) {
    if (d < TTMEM_MAX_SCOPE_DEPTH) sc.ids[d] = static_cast<uint16_t>(sc.op);  // keeps the outer
    return -1;
  }
  sc.ids[d] = static_cast<uint16_t>(id);
  sc.op = id;
  return 0;
}

TTMEM_EXPORT void ttmem_scope_pop(void) {
  ThreadScopes& sc = t_scopes;
  if (sc.depth == 0) return;
  const uint32_t d = --sc.depth;
  if (d < TTMEM_MAX_SCOPE_DEPTH) sc.op = d == 0 ? 0 : sc.ids[d - 1];
}

TTMEM_EXPORT int ttmem_mark(const char* name) {
  if (!Enabled()) return -1;
  const uint32_t id = InternOpName(name);
  if (id == 0) return -1;
  Write(ttmem::proto::RecordKind::kMark, 0, 0, id, 0, 0, 0);
  return 0;
}
