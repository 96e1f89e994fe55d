// client_internal.h — state shared by libttmem's hot path (client.cc) and its connector thread
// (connector.cc). Not installed; hidden visibility.
//
// Modes: while g_log_mode is 0, events go to the calling thread's ring. It is 1 before a daemon
// is connected, after one went away, and after a ring overflowed: events then go to the resync
// log, which the connector delivers (kSync rounds) and, once the daemon acknowledged it and the
// log is empty, ends (back to 0) with every log shard locked.
#ifndef TTMEM_CLIENT_CLIENT_INTERNAL_H_
#define TTMEM_CLIENT_CLIENT_INTERNAL_H_

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "client/resync_log.h"
#include "protocol/shm_abi.h"
#include "protocol/wire.h"

namespace ttmem::client {

struct Region {
  void* base = nullptr;
  uint64_t size = 0;
  int memfd = -1;
  uint32_t ring_count = 0;
  uint32_t ring_capacity = 0;
  proto::RegionHeader* header = nullptr;
};
extern Region g_region;  // set once at initialisation (reset in a fork child)

extern std::atomic<int> g_wake_fd;          // the daemon's eventfd; replaced in place with dup3
extern std::atomic<uint32_t> g_connected;   // 1 while a daemon holds the region
extern std::atomic<uint32_t> g_connecting;  // 1 while a hello is in flight
extern std::atomic<uint32_t> g_log_mode;    // see above
extern ResyncLog* g_log;                    // heap, never freed (threads may outlive statics)
extern int g_connector_wake;                // eventfd: the log mode began; the connector acts

// Control socket: written by the connector thread and by announce/tag callers.
extern std::mutex g_sock_mu;
extern int g_sock_fd;   // guarded by g_sock_mu
extern int g_state_fd;  // the daemon's table for us (opaque); guarded by g_sock_mu
inline constexpr int kMaxAnnounced = 256;
extern proto::DeviceInfoBody g_devices[kMaxAnnounced];  // guarded by g_sock_mu
extern int g_num_devices;                               // guarded by g_sock_mu
extern proto::SetTagBody g_tag;                         // guarded by g_sock_mu
extern bool g_has_tag;                                  // guarded by g_sock_mu

extern std::atomic<uint32_t> g_overflow;       // the log mode began with a full ring: count drops
extern std::atomic<uint32_t> g_sync_inflight;  // a taken log chunk is not acknowledged yet

void WakeDaemon();
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
