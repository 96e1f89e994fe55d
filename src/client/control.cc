// libttmem's C ABI off the hot path (include/ttmem/ttmem.h): waiting for the daemon to apply what
// was published, announcing a device, the process's tag, its statistics and the socket path.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "client/client_internal.h"
#include "protocol/frames.h"
#include "protocol/paths.h"
#include "protocol/shm_abi.h"
#include "protocol/wire.h"
#define TTMEM_NO_INLINE  // the library defines the functions the inline checks call
#include "ttmem/ttmem.h"

using ttmem::client::EnterLogMode;
using ttmem::client::g_devices;
using ttmem::client::g_has_tag;
using ttmem::client::g_link;
using ttmem::client::g_num_devices;
using ttmem::client::g_sock_mu;
using ttmem::client::g_tag;
using ttmem::client::kMaxAnnounced;
using ttmem::client::Region;
using ttmem::client::TrackingEnabled;
using ttmem::client::WakeDaemon;

TTMEM_EXPORT int ttmem_flush(uint32_t timeout_ms) {
  if (!TrackingEnabled()) return -1;
  timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  const uint64_t deadline = static_cast<uint64_t>(start.tv_sec) * 1000000000ull +
                            static_cast<uint64_t>(start.tv_nsec) +
                            uint64_t{timeout_ms} * 1000000ull;
  const Region& reg = g_link.region;
  std::vector<uint64_t> target(reg.ring_count);
  for (uint32_t i = 0; i < reg.ring_count; ++i)
    target[i] = ttmem::proto::RingAt(reg.base, i)->head.load(std::memory_order_acquire);
  for (;;) {
    if (g_link.log_mode.load() != 0) {
      EnterLogMode();  // nudges the connector to deliver the log
    } else if (g_link.connected.load() != 0 && g_link.sync_inflight.load() == 0) {
      bool done = true;
      for (uint32_t i = 0; i < reg.ring_count && done; ++i) {
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
  if (info == nullptr || info->struct_size < TTMEM_DEVICE_INFO_V1_SIZE ||
      info->device >= TTMEM_MAX_DEVICES || !TrackingEnabled())
    return -1;
  // A caller built against the older struct passes 112 bytes: the rest reads as zero (unknown).
  ttmem_device_info in;
  std::memset(&in, 0, sizeof(in));
  std::memcpy(&in, info, std::min<size_t>(info->struct_size, sizeof(in)));
  ttmem::proto::DeviceInfoBody body{};
  body.device = in.device;
  body.num_cores = in.num_cores;
  body.unique_id = in.unique_id;
  body.flags = in.flags & TTMEM_DEVICE_UNIQUE_ID_VALID;
  // The topology is read only from a struct that has it and says so.
  if (info->struct_size >= sizeof(ttmem_device_info) && (in.flags & TTMEM_DEVICE_TOPOLOGY_VALID)) {
    body.flags |= TTMEM_DEVICE_TOPOLOGY_VALID;
    body.pcie_id = in.pcie_id;
    body.mmio_device = in.mmio_device;
    body.board_id = in.board_id;
    std::memcpy(body.board_type, in.board_type, sizeof(body.board_type));
    body.board_type[sizeof(body.board_type) - 1] = '\0';
  }
  std::memcpy(body.arch, in.arch, sizeof(body.arch));
  body.arch[sizeof(body.arch) - 1] = '\0';
  for (int t = 0; t < TTMEM_MEM_TYPE_COUNT; ++t) {
    body.capacity_bytes[t] = in.capacity_bytes[t];
    body.bank_count[t] = in.bank_count[t];
    body.bank_base[t] = in.bank_base[t];
  }
  ttmem::base::MutexLock lock(g_sock_mu);
  int slot = 0;
  while (slot < g_num_devices && g_devices[slot].device != body.device) ++slot;
  if (slot == kMaxAnnounced) return -1;
  g_devices[slot] = body;
  if (slot == g_num_devices) ++g_num_devices;
  // Kept above: a failed send (the connection is going) is repeated at the next connection.
  if (g_link.sock_fd >= 0)
    static_cast<void>(
        ttmem::proto::SendFrame(g_link.sock_fd, ttmem::proto::FrameType::kDeviceInfo, &body,
                                ttmem::proto::DeviceInfoBodySize(body, g_link.daemon_version)));
  return 0;
}

TTMEM_EXPORT int ttmem_set_tag(const char* tag) {
  if (!TrackingEnabled()) return -1;
  ttmem::base::MutexLock lock(g_sock_mu);
  std::memset(&g_tag, 0, sizeof(g_tag));
  if (tag != nullptr) std::strncpy(g_tag.tag, tag, sizeof(g_tag.tag) - 1);
  g_has_tag = true;
  // Kept above: a failed send (the connection is going) is repeated at the next connection.
  if (g_link.sock_fd >= 0)
    static_cast<void>(ttmem::proto::SendFrame(g_link.sock_fd, ttmem::proto::FrameType::kSetTag,
                                              &g_tag, sizeof(g_tag)));
  return 0;
}

TTMEM_EXPORT int ttmem_get_stats(ttmem_stats* out) {
  if (out == nullptr) return -1;
  std::memset(out, 0, sizeof(*out));
  if (!TrackingEnabled()) return 0;
  const Region& reg = g_link.region;
  for (uint32_t i = 0; i < reg.ring_count; ++i)
    out->events_written += ttmem::proto::RingAt(reg.base, i)->head.load(std::memory_order_relaxed);
  out->events_written += g_link.logged.load(std::memory_order_relaxed);
  out->events_dropped = reg.header->overflowed.load(std::memory_order_relaxed) +
                        reg.header->lost_bad_args.load(std::memory_order_relaxed);
  out->connected = g_link.connected.load();
  out->rings_in_use = g_link.rings_in_use.load();
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
