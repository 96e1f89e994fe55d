// client_internal.h — state shared by libttmem's hot path (client.cc) and its connector thread
// (connector.cc). Not installed; hidden visibility.
//
// Modes: while g_link.log_mode is 0, events go to the calling thread's ring. It is 1 before a
// daemon is connected, after one went away, and after a ring overflowed: events then go to the
// resync log, which the connector delivers (kSync rounds) and, once the daemon acknowledged it and
// the log is empty, ends (back to 0) with every log shard locked.
#ifndef TTMEM_CLIENT_CLIENT_INTERNAL_H_
#define TTMEM_CLIENT_CLIENT_INTERNAL_H_

#include <atomic>
#include <cstdint>
#include <mutex>
#include <type_traits>
#include <vector>

#include "base/thread_annotations.h"
#include "client/resync_log.h"
#include "protocol/shm_abi.h"
#include "protocol/wire.h"

// The C ABI's definitions: exported (the library is built with hidden visibility).
#define TTMEM_EXPORT extern "C" __attribute__((visibility("default")))

namespace ttmem::client {

struct Region {
  void* base = nullptr;
  uint64_t size = 0;
  int memfd = -1;
  uint32_t ring_count = 0;
  uint32_t ring_capacity = 0;
  proto::RegionHeader* header = nullptr;
};
// The process's link to a daemon: everything a fork child must start again from. The child's
// atfork handler closes the fds it holds and then replaces it with a fresh Link, so a field added
// here is reset with the others (client.cc, AtForkChild). What a child keeps (its devices and
// tag, announced again when it connects) lives outside it.
struct Link {
  Region region;                           // set once at initialisation
  std::atomic<int> wake_fd{-1};            // the daemon's eventfd; replaced in place with dup3
  std::atomic<uint32_t> connected{0};      // 1 while a daemon holds the region
  std::atomic<uint32_t> connecting{0};     // 1 while a hello is in flight
  std::atomic<uint32_t> log_mode{1};       // see above
  std::atomic<uint32_t> overflow{0};       // the log mode began with a full ring: count drops
  std::atomic<uint32_t> sync_inflight{0};  // a taken log chunk is not acknowledged yet
  std::atomic<uint32_t> rings_in_use{0};   // rings claimed by live threads
  std::atomic<uint64_t> logged{0};         // events that went to the resync log
  ResyncLog* log = nullptr;                // heap, never freed (threads may outlive statics)
  int connector_wake = -1;                 // eventfd: the log mode began; the connector acts
  int sock_fd = -1;                        // guarded by g_sock_mu
  int state_fd = -1;                       // the daemon's table for us (opaque); g_sock_mu
  uint32_t daemon_version = 0;             // its hello ack's daemon_protocol_version; g_sock_mu
};
static_assert(std::is_trivially_destructible_v<Link>);
extern Link g_link;

// Control socket: written by the connector thread and by announce/tag callers.
extern base::Mutex g_sock_mu;
inline constexpr int kMaxAnnounced = 256;
extern proto::DeviceInfoBody g_devices[kMaxAnnounced] TTMEM_GUARDED_BY(g_sock_mu);
extern int g_num_devices TTMEM_GUARDED_BY(g_sock_mu);
extern proto::SetTagBody g_tag TTMEM_GUARDED_BY(g_sock_mu);
extern bool g_has_tag TTMEM_GUARDED_BY(g_sock_mu);

// Scope names (scopes.cc): interned once per process, kept across fork; sent to the daemon once
// per connection (kOpName). Guarded by their own lock, never held while sending.
// Returns the name's id (1 .. kMaxOpNames), or 0 when refused (empty, or the table is full).
uint32_t InternOpName(const char* name);
// Sends the names this connection has not had yet. The caller holds g_sock_mu and a connection.
void SendOpNamesLocked() TTMEM_REQUIRES(g_sock_mu);
// A new connection has had none of them.
void ForgetOpNamesSent();
// Fork: the names' lock is taken before and released after, in parent and child.
void LockOpNames();
void UnlockOpNames();

void WakeDaemon();
// Makes the region (g_link.region) as the environment sizes it, and reads TTMEM_FULL_WAIT_US into
// *full_wait_ns. False when the kernel refuses (no memfd, no mapping): tracking stays off.
bool CreateRegion(uint64_t* full_wait_ns);
// Whether this process tracks (initialising on the first call): the ABI's entry points off the
// hot path ask it (control.cc); the hot path has its own inline check.
bool TrackingEnabled();
// Takes the resync log and switches to the rings at one instant, recording each ring's head as
// its hold and the round's sequence number in the region.
ResyncLog::Chunk TakeLogAndSwitchToRings(uint64_t* sequence);
// Starts the log mode (if not on) and wakes the connector.
void EnterLogMode();

struct InitialConnection {
  int fd;        // -1: none
  bool pending;  // hello sent, ack not yet received
};
// First attempt, inline at initialisation (bounded by ack_timeout_ms).
InitialConnection ConnectAtInit(int ack_timeout_ms);
// The connector thread's body; arg: a heap InitialConnection.
void* ConnectorMain(void* arg);

}  // namespace ttmem::client

#endif  // TTMEM_CLIENT_CLIENT_INTERNAL_H_
