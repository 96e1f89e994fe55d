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

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include "base/socket.h"
#include "protocol/paths.h"
#include "protocol/shm_abi.h"
#include "protocol/wire.h"
#include "ttmem/ttmem.h"

#define TTMEM_EXPORT extern "C" __attribute__((visibility("default")))
#define TTMEM_LIKELY(x) __builtin_expect(!!(x), 1)
#define TTMEM_UNLIKELY(x) __builtin_expect(!!(x), 0)

namespace {

using ttmem::proto::Record;
using ttmem::proto::RegionHeader;
using ttmem::proto::RingControl;
using ttmem::proto::RingState;

static_assert(TTMEM_MAX_DEVICES == ttmem::proto::kMaxDevices);
static_assert(TTMEM_MEM_TYPE_COUNT == ttmem::proto::kMemTypeCount);
static_assert(TTMEM_ALLOC_HOOKED == ttmem::proto::kFlagHooked);

enum State : int { kUninit = 0, kDisabled = 1, kEnabled = 2 };

constexpr uint32_t kDefaultRings = 64;
constexpr uint32_t kDefaultRingRecords = 8192;  // 512 KiB per ring

// Globals are plain data (no destructors) so that threads still running during static
// destruction, and fork children, never touch a destroyed object.
std::atomic<int> g_state{kUninit};
std::mutex g_init_mu;  // guards initialisation and the region fields below

struct Region {
  void* base = nullptr;
  uint64_t size = 0;
  int memfd = -1;
  uint32_t ring_count = 0;
  uint32_t ring_capacity = 0;
  RegionHeader* header = nullptr;
};
Region g_region;

std::atomic<int> g_wake_fd{-1};         // the daemon's eventfd; replaced in place with dup2
std::atomic<uint32_t> g_connected{0};   // 1 while a daemon holds the region
std::atomic<uint32_t> g_connecting{0};  // 1 while a hello is in flight
std::atomic<uint32_t> g_rings_in_use{0};

// Control socket: written by the connector thread and by announce/tag callers.
std::mutex g_sock_mu;
int g_sock_fd = -1;  // guarded by g_sock_mu

// What the daemon must be told again after every (re)connect. Guarded by g_sock_mu.
constexpr int kMaxAnnounced = 256;
ttmem::proto::DeviceInfoBody g_devices[kMaxAnnounced];
int g_num_devices = 0;
ttmem::proto::SetTagBody g_tag;
bool g_has_tag = false;

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
pthread_key_t g_thread_key;  // its destructor retires the thread's ring

inline uint64_t Timestamp() {
#if defined(__x86_64__) || defined(__i386__)
  // lfence: the TSC is read only after earlier loads (e.g. the app's lock acquire that made a
  // reused buffer id available) have completed, so cross-thread order is preserved.
  _mm_lfence();
  return __rdtsc();
#else
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
#endif
}

uint32_t EnvU32(const char* name, uint32_t dflt, uint32_t lo, uint32_t hi) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return dflt;
  char* end = nullptr;
  unsigned long x = std::strtoul(v, &end, 10);
  if (*end != '\0' || x < lo || x > hi) return dflt;
  return static_cast<uint32_t>(x);
}

uint32_t RoundUpPow2(uint32_t x) {
  uint32_t p = 1;
  while (p < x) p <<= 1;
  return p;
}

void WakeDaemon() {
  int fd = g_wake_fd.load(std::memory_order_relaxed);
  if (fd < 0) return;
  uint64_t one = 1;
  ssize_t n = ::write(fd, &one, sizeof(one));
  (void)n;
}

uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Overflow policy: the ring is full. With a daemon connected, wake it and wait for space, at most
// g_full_wait_ns (TTMEM_FULL_WAIT_US, default 10000 us); without one, or after the wait, the
// caller drops the event and counts it. Off the hot path: only a full ring gets here.
uint64_t g_full_wait_ns = 10000000;

bool WaitForSpace(ThreadRing* r, uint64_t head) {
  if ((g_connected.load(std::memory_order_relaxed) == 0 &&
       g_connecting.load(std::memory_order_relaxed) == 0) ||
      g_full_wait_ns == 0)
    return false;
  WakeDaemon();
  const uint64_t deadline = MonotonicNs() + g_full_wait_ns;
  for (;;) {
    timespec pause{0, 20000};
    ::nanosleep(&pause, nullptr);
    r->cached_read = r->ctl->read.load(std::memory_order_acquire);
    if (head - r->cached_read <= r->mask) return true;
    if (MonotonicNs() >= deadline) return false;
  }
}

void RetireThreadRing(void*) {
  ThreadRing& r = t_ring;
  if (r.ctl == nullptr) return;
  r.ctl->state.store(static_cast<uint32_t>(RingState::kRetired), std::memory_order_release);
  r.ctl = nullptr;
  g_rings_in_use.fetch_sub(1, std::memory_order_relaxed);
}

// Claims a free ring, or a retired one the daemon has fully drained. Slow path, once per thread.
bool ClaimRing(ThreadRing* r) {
  const Region& reg = g_region;
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
    g_rings_in_use.fetch_add(1, std::memory_order_relaxed);
    pthread_setspecific(g_thread_key, reinterpret_cast<void*>(1));
    return true;
  }
  return false;
}

inline void Write(ttmem::proto::RecordKind kind, uint32_t device, uint8_t type, uint64_t id,
                  uint64_t address, uint64_t size, uint16_t flags) {
  ThreadRing& r = t_ring;
  RegionHeader* hdr = g_region.header;
  if (TTMEM_UNLIKELY(r.ctl == nullptr) && !ClaimRing(&r)) {
    hdr->lost_no_ring.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (TTMEM_UNLIKELY(device >= TTMEM_MAX_DEVICES)) {
    hdr->lost_bad_args.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  uint64_t head = r.head;
  if (TTMEM_UNLIKELY(head - r.cached_read > r.mask)) {
    r.cached_read = r.ctl->read.load(std::memory_order_acquire);
    if (head - r.cached_read > r.mask && !WaitForSpace(&r, head)) {
      // Still full: count the loss (single writer, so no read-modify-write needed).
      r.ctl->dropped.store(r.ctl->dropped.load(std::memory_order_relaxed) + 1,
                           std::memory_order_relaxed);
      return;
    }
  }
  Record* rec = &r.records[head & r.mask];
  rec->timestamp = Timestamp();
  rec->buffer_id = id;
  rec->address = address;
  rec->size = size;
  rec->device = device;
  rec->kind = static_cast<uint8_t>(kind);
  rec->type = type;
  rec->flags = flags;
  r.head = head + 1;
  r.ctl->head.store(head + 1, std::memory_order_release);
  if (TTMEM_UNLIKELY(hdr->wake_wanted.load(std::memory_order_relaxed) != 0) &&
      hdr->wake_wanted.exchange(0, std::memory_order_relaxed) != 0)
    WakeDaemon();
}

// ---------------------------------------------------------------------------------------------
// Connection (background thread).

void SendAnnouncementsLocked() {
  for (int i = 0; i < g_num_devices; ++i)
    ttmem::base::SendFrame(g_sock_fd, ttmem::proto::FrameType::kDeviceInfo, &g_devices[i],
                           sizeof(g_devices[i]));
  if (g_has_tag)
    ttmem::base::SendFrame(g_sock_fd, ttmem::proto::FrameType::kSetTag, &g_tag, sizeof(g_tag));
}

bool SendHello(int fd) {
  ttmem::proto::HelloBody hello{};
  hello.protocol_version = ttmem::proto::kProtocolVersion;
  hello.region_size = g_region.size;
  char comm[16] = {};
  FILE* f = std::fopen("/proc/self/comm", "re");
  if (f != nullptr) {
    if (std::fgets(comm, sizeof(comm), f) == nullptr) comm[0] = '\0';
    std::fclose(f);
  }
  std::memcpy(hello.comm, comm, sizeof(hello.comm));
  return ttmem::base::SendFrame(fd, ttmem::proto::FrameType::kHello, &hello, sizeof(hello),
                                g_region.memfd);
}

enum class AckResult { kOk, kTimeout, kFailed };

// Waits for the daemon's hello ack up to `timeout_ms`.
AckResult ReceiveAck(int fd, int timeout_ms) {
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ttmem::base::Frame ack;
  std::string err;
  errno = 0;
  if (!ttmem::base::RecvFrame(fd, 4096, &ack, &err))
    return errno == EAGAIN || errno == EWOULDBLOCK ? AckResult::kTimeout : AckResult::kFailed;
  if (ack.header.type != static_cast<uint16_t>(ttmem::proto::FrameType::kHelloAck) ||
      ack.payload.size() != sizeof(ttmem::proto::HelloAckBody))
    return AckResult::kFailed;
  ttmem::proto::HelloAckBody body;
  std::memcpy(&body, ack.payload.data(), sizeof(body));
  if (body.status != static_cast<uint32_t>(ttmem::proto::HelloStatus::kOk)) {
    if (std::getenv("TTMEM_DEBUG") != nullptr)
      std::fprintf(stderr, "ttmem: daemon refused this client (status %u, daemon protocol %u)\n",
                   body.status, body.daemon_protocol_version);
    return AckResult::kFailed;
  }
  if (ack.passed_fd) {
    int current = g_wake_fd.load();
    if (current < 0) {
      g_wake_fd.store(ack.passed_fd.release());
    } else {
      ::dup3(ack.passed_fd.get(), current, O_CLOEXEC);  // writers never see a closed fd
    }
  }
  return AckResult::kOk;
}

void OnConnected(int fd) {
  {
    std::lock_guard<std::mutex> lock(g_sock_mu);
    g_sock_fd = fd;
    SendAnnouncementsLocked();
  }
  g_connected.store(1);
  g_connecting.store(0);
}

// Connects and sends hello, then waits for the ack up to `ack_timeout_ms`. On kOk the connection
// is registered; on kTimeout *fd holds the socket with the hello in flight (g_connecting stays 1
// so full rings wait for the daemon); on kFailed there is no connection.
AckResult TryConnect(const std::string& path, int ack_timeout_ms, ttmem::base::UniqueFd* fd) {
  *fd = ttmem::base::ConnectUnix(path, /*nonblocking=*/false);
  if (!*fd) return AckResult::kFailed;
  timeval send_timeout{2, 0};
  ::setsockopt(fd->get(), SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout));
  g_connecting.store(1);
  AckResult r = SendHello(fd->get()) ? ReceiveAck(fd->get(), ack_timeout_ms) : AckResult::kFailed;
  if (r == AckResult::kOk) {
    OnConnected(fd->get());
  } else if (r == AckResult::kFailed) {
    g_connecting.store(0);
    fd->reset();
  }
  return r;
}

// Blocks until the daemon hangs up, then forgets the connection.
void WaitForHangup(ttmem::base::UniqueFd fd) {
  timeval none{0, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
  char buf[256];
  for (;;) {
    ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n == 0 || (n < 0 && errno != EINTR)) break;
  }
  g_connected.store(0);
  std::lock_guard<std::mutex> lock(g_sock_mu);
  g_sock_fd = -1;
}

// The connector thread: takes over the connection begun at init (arg: a heap InitialConnection)
// and reconnects with backoff (50 ms doubling to 2 s) whenever there is none.
struct InitialConnection {
  int fd;        // -1: none
  bool pending;  // hello sent, ack not yet received
};

void* ConnectorMain(void* arg) {
  InitialConnection first = *static_cast<InitialConnection*>(arg);
  delete static_cast<InitialConnection*>(arg);
  const std::string path = ttmem::proto::DefaultSocketPath();
  if (first.fd >= 0) {
    ttmem::base::UniqueFd fd(first.fd);
    if (first.pending) {
      if (ReceiveAck(fd.get(), 5000) == AckResult::kOk) {
        OnConnected(fd.get());
      } else {
        g_connecting.store(0);
        fd.reset();
      }
    }
    if (fd) WaitForHangup(std::move(fd));
  }
  useconds_t backoff_us = 50000;
  for (;;) {
    ttmem::base::UniqueFd fd;
    AckResult r = TryConnect(path, 5000, &fd);
    if (r == AckResult::kTimeout) {
      g_connecting.store(0);
      fd.reset();
    }
    if (r == AckResult::kOk) {
      backoff_us = 50000;
      WaitForHangup(std::move(fd));
    }
    ::usleep(backoff_us);
    backoff_us = backoff_us * 2 > 2000000 ? 2000000 : backoff_us * 2;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Initialisation and fork.

bool CreateRegion() {
  uint32_t rings = EnvU32("TTMEM_RINGS", kDefaultRings, 1, ttmem::proto::kMaxRings);
  uint32_t cap =
      RoundUpPow2(EnvU32("TTMEM_RING_RECORDS", kDefaultRingRecords, ttmem::proto::kMinRingCapacity,
                         ttmem::proto::kMaxRingCapacity));
  uint64_t size = ttmem::proto::RegionSize(rings, cap);
  g_full_wait_ns = uint64_t{EnvU32("TTMEM_FULL_WAIT_US", 10000, 0, 1000000)} * 1000;
  int fd = ::memfd_create("ttmem-region", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return false;
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0 ||
      ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0) {
    ::close(fd);
    return false;
  }
  void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    ::close(fd);
    return false;
  }
  auto* hdr = static_cast<RegionHeader*>(base);
  hdr->magic = ttmem::proto::kRegionMagic;
  hdr->version = ttmem::proto::kProtocolVersion;
  hdr->header_size = sizeof(RegionHeader);
  hdr->ring_count = rings;
  hdr->ring_capacity = cap;
  hdr->record_size = sizeof(Record);
  hdr->region_size = size;
#if defined(__x86_64__) || defined(__i386__)
  hdr->clock = ttmem::proto::kClockTsc;
#else
  hdr->clock = ttmem::proto::kClockMonotonic;
#endif
  g_region = Region{base, size, fd, rings, cap, hdr};
  return true;
}

void AtForkPrepare() {
  g_init_mu.lock();
  g_sock_mu.lock();
}
void AtForkParent() {
  g_sock_mu.unlock();
  g_init_mu.unlock();
}
// The child must never write into the parent's region: drop it and start afresh on next use.
void AtForkChild() {
  if (g_region.base != nullptr) ::munmap(g_region.base, g_region.size);
  if (g_region.memfd >= 0) ::close(g_region.memfd);
  g_region = Region{};
  if (g_sock_fd >= 0) ::close(g_sock_fd);
  g_sock_fd = -1;
  int wake = g_wake_fd.exchange(-1);
  if (wake >= 0) ::close(wake);
  g_connected.store(0);
  g_connecting.store(0);
  g_rings_in_use.store(0);
  t_ring = ThreadRing{};
  g_state.store(kUninit);
  g_sock_mu.unlock();
  g_init_mu.unlock();
}

bool g_atfork_registered = false;  // guarded by g_init_mu

int InitSlow() {
  std::lock_guard<std::mutex> lock(g_init_mu);
  int st = g_state.load(std::memory_order_acquire);
  if (st != kUninit) return st;
  if (!g_atfork_registered) {
    pthread_key_create(&g_thread_key, RetireThreadRing);
    pthread_atfork(AtForkPrepare, AtForkParent, AtForkChild);
    g_atfork_registered = true;
  }
  const char* env = std::getenv("TT_ALLOC_TRACKING_ENABLED");
  if (env == nullptr || std::strcmp(env, "1") != 0 || !CreateRegion()) {
    g_state.store(kDisabled, std::memory_order_release);
    return kDisabled;
  }
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
  ttmem::base::UniqueFd fd;
  AckResult r = TryConnect(ttmem::proto::DefaultSocketPath(), 250, &fd);
  auto* first = new InitialConnection{fd.release(), r == AckResult::kTimeout};
  int rc = pthread_create(&thread, &attr, ConnectorMain, first);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_attr_destroy(&attr);
  (void)rc;  // without the thread the app still runs; events stay in the rings and are counted
  g_state.store(kEnabled, std::memory_order_release);
  return kEnabled;
}

inline bool Enabled() {
  int st = g_state.load(std::memory_order_acquire);
  if (TTMEM_LIKELY(st == kEnabled)) return true;
  if (st == kDisabled) return false;
  return InitSlow() == kEnabled;
}

__attribute__((constructor)) void InitAtLoad() {
  (void)Enabled();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The C ABI.

TTMEM_EXPORT int ttmem_enabled(void) {
  return Enabled() ? 1 : 0;
}

TTMEM_EXPORT void ttmem_alloc(uint32_t device, ttmem_mem_type type, uint64_t buffer_id,
                              uint64_t address, uint64_t size) {
  if (TTMEM_UNLIKELY(g_state.load(std::memory_order_acquire) != kEnabled) && !Enabled()) return;
  Write(ttmem::proto::RecordKind::kAlloc, device, static_cast<uint8_t>(type), buffer_id, address,
        size, 0);
}

TTMEM_EXPORT void ttmem_alloc_ex(uint32_t device, ttmem_mem_type type, uint64_t buffer_id,
                                 uint64_t address, uint64_t size, uint32_t flags) {
  if (TTMEM_UNLIKELY(g_state.load(std::memory_order_acquire) != kEnabled) && !Enabled()) return;
  if (TTMEM_UNLIKELY((flags & ~uint32_t{ttmem::proto::kKnownFlags}) != 0)) {
    g_region.header->lost_bad_args.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  Write(ttmem::proto::RecordKind::kAlloc, device, static_cast<uint8_t>(type), buffer_id, address,
        size, static_cast<uint16_t>(flags));
}

TTMEM_EXPORT void ttmem_free(uint32_t device, uint64_t buffer_id) {
  if (TTMEM_UNLIKELY(g_state.load(std::memory_order_acquire) != kEnabled) && !Enabled()) return;
  Write(ttmem::proto::RecordKind::kFree, device, 0, buffer_id, 0, 0, 0);
}

TTMEM_EXPORT int ttmem_flush(uint32_t timeout_ms) {
  if (!Enabled()) return -1;
  timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  const uint64_t deadline = static_cast<uint64_t>(start.tv_sec) * 1000000000ull +
                            static_cast<uint64_t>(start.tv_nsec) +
                            uint64_t{timeout_ms} * 1000000ull;
  const Region& reg = g_region;
  std::vector<uint64_t> target(reg.ring_count);
  for (uint32_t i = 0; i < reg.ring_count; ++i)
    target[i] = ttmem::proto::RingAt(reg.base, i)->head.load(std::memory_order_acquire);
  for (;;) {
    if (g_connected.load() != 0) {
      bool done = true;
      for (uint32_t i = 0; i < reg.ring_count && done; ++i) {
        // A dropped record never reaches the ring, so head counts exactly what must be applied.
        done =
            ttmem::proto::RingAt(reg.base, i)->applied.load(std::memory_order_acquire) >= target[i];
      }
      if (done) return 0;
      WakeDaemon();
    }
    timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t t =
        static_cast<uint64_t>(now.tv_sec) * 1000000000ull + static_cast<uint64_t>(now.tv_nsec);
    if (t >= deadline) return 1;
    ::usleep(500);
  }
}

TTMEM_EXPORT int ttmem_device_announce(const ttmem_device_info* info) {
  if (info == nullptr || info->struct_size < sizeof(ttmem_device_info) ||
      info->device >= TTMEM_MAX_DEVICES || !Enabled())
    return -1;
  ttmem::proto::DeviceInfoBody body{};
  body.device = info->device;
  body.num_cores = info->num_cores;
  body.unique_id = info->unique_id;
  std::memcpy(body.arch, info->arch, sizeof(body.arch));
  body.arch[sizeof(body.arch) - 1] = '\0';
  for (int t = 0; t < TTMEM_MEM_TYPE_COUNT; ++t) body.capacity_bytes[t] = info->capacity_bytes[t];
  std::lock_guard<std::mutex> lock(g_sock_mu);
  int slot = 0;
  while (slot < g_num_devices && g_devices[slot].device != body.device) ++slot;
  if (slot == kMaxAnnounced) return -1;
  g_devices[slot] = body;
  if (slot == g_num_devices) ++g_num_devices;
  if (g_sock_fd >= 0)
    ttmem::base::SendFrame(g_sock_fd, ttmem::proto::FrameType::kDeviceInfo, &body, sizeof(body));
  return 0;
}

TTMEM_EXPORT int ttmem_set_tag(const char* tag) {
  if (!Enabled()) return -1;
  std::lock_guard<std::mutex> lock(g_sock_mu);
  std::memset(&g_tag, 0, sizeof(g_tag));
  if (tag != nullptr) std::strncpy(g_tag.tag, tag, sizeof(g_tag.tag) - 1);
  g_has_tag = true;
  if (g_sock_fd >= 0)
    ttmem::base::SendFrame(g_sock_fd, ttmem::proto::FrameType::kSetTag, &g_tag, sizeof(g_tag));
  return 0;
}

TTMEM_EXPORT int ttmem_get_stats(ttmem_stats* out) {
  if (out == nullptr) return -1;
  std::memset(out, 0, sizeof(*out));
  if (!Enabled()) return 0;
  const Region& reg = g_region;
  for (uint32_t i = 0; i < reg.ring_count; ++i) {
    const RingControl* ctl = ttmem::proto::RingAt(reg.base, i);
    out->events_written += ctl->head.load(std::memory_order_relaxed);
    out->events_dropped += ctl->dropped.load(std::memory_order_relaxed);
  }
  out->events_dropped += reg.header->lost_no_ring.load(std::memory_order_relaxed) +
                         reg.header->lost_bad_args.load(std::memory_order_relaxed);
  out->connected = g_connected.load();
  out->rings_in_use = g_rings_in_use.load();
  return 0;
}

TTMEM_EXPORT uint32_t ttmem_socket_path(char* buf, uint32_t len) {
  std::string p = ttmem::proto::DefaultSocketPath();
  if (buf != nullptr && len > 0) {
    size_t n = p.size() < len - 1 ? p.size() : len - 1;
    std::memcpy(buf, p.data(), n);
    buf[n] = '\0';
  }
  return static_cast<uint32_t>(p.size());
}
