// libttmem's connector thread: connects, hands the region (and the daemon's table for us, if an
// earlier daemon left one) over, delivers the resync log, re-sends announcements, and reconnects
// with backoff when the daemon goes away. Never on the application's hot path.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "base/socket.h"
#include "client/client_internal.h"
#include "protocol/frames.h"
#include "protocol/paths.h"

namespace ttmem::client {
namespace {

enum class AckResult { kOk, kTimeout, kFailed };

// A failed send means the connection is gone: the connector sees it close and reconnects, and
// the announcements (kept here) go again then. Nothing else to do.
void SendAnnouncementsLocked() TTMEM_REQUIRES(g_sock_mu) {
  bool ok = true;
  for (int i = 0; i < g_num_devices && ok; ++i)
    ok = proto::SendFrame(g_link.sock_fd, proto::FrameType::kDeviceInfo, &g_devices[i],
                          proto::DeviceInfoBodySize(g_devices[i], g_link.daemon_version));
  if (ok && g_has_tag)
    ok = proto::SendFrame(g_link.sock_fd, proto::FrameType::kSetTag, &g_tag, sizeof(g_tag));
  if (ok) {
    ForgetOpNamesSent();
    SendOpNamesLocked();
  }
}

bool SendHello(int fd) {
  proto::HelloBody hello{};
  hello.protocol_version = proto::kProtocolVersion;
  hello.region_size = g_link.region.size;
  FILE* f = std::fopen("/proc/self/comm", "re");
  if (f != nullptr) {
    if (std::fgets(hello.comm, sizeof(hello.comm), f) == nullptr) hello.comm[0] = '\0';
    std::fclose(f);
  }
  ttmem::base::MutexLock lock(g_sock_mu);
  return proto::SendFrame(fd, proto::FrameType::kHello, &hello, sizeof(hello), g_link.region.memfd,
                          g_link.state_fd);
}

// Waits for the daemon's hello ack up to `timeout_ms`; takes the wake eventfd and our table.
AckResult ReceiveAck(int fd, int timeout_ms) {
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  proto::Frame ack;
  std::string err;
  errno = 0;
  if (!proto::RecvFrame(fd, 4096, &ack, &err))
    return errno == EAGAIN || errno == EWOULDBLOCK ? AckResult::kTimeout : AckResult::kFailed;
  if (ack.header.type != static_cast<uint16_t>(proto::FrameType::kHelloAck) ||
      ack.payload.size() != sizeof(proto::HelloAckBody))
    return AckResult::kFailed;
  proto::HelloAckBody body;
  std::memcpy(&body, ack.payload.data(), sizeof(body));
  if (body.status != static_cast<uint32_t>(proto::HelloStatus::kOk)) {
    if (std::getenv("TTMEM_DEBUG") != nullptr)
      std::fprintf(stderr, "ttmem: daemon refused this client (status %u, daemon protocol %u)\n",
                   body.status, body.daemon_protocol_version);
    return AckResult::kFailed;
  }
  if (ack.passed_fd) {
    int current = g_link.wake_fd.load();
    if (current < 0) {
      g_link.wake_fd.store(ack.passed_fd.release());
    } else {
      ::dup3(ack.passed_fd.get(), current, O_CLOEXEC);  // writers never see a closed fd
    }
  }
  {
    ttmem::base::MutexLock lock(g_sock_mu);
    g_link.daemon_version = body.daemon_protocol_version;  // what device body it takes
    if (ack.passed_fd2) {
      if (g_link.state_fd >= 0) ::close(g_link.state_fd);
      g_link.state_fd = ack.passed_fd2.release();
    }
  }
  return AckResult::kOk;
}

void OnConnected(int fd) {
  {
    ttmem::base::MutexLock lock(g_sock_mu);
    g_link.sock_fd = fd;
    SendAnnouncementsLocked();
  }
  g_link.connected.store(1);
  g_link.connecting.store(0);
}

// Connects and sends hello, then waits for the ack up to `ack_timeout_ms`. On kOk the connection
// is registered; on kTimeout *fd holds the socket with the hello in flight (g_link.connecting stays
// 1 so full rings wait for the daemon); on kFailed there is no connection. Whether the peer may
// have our region: a daemon running as root or as our own uid. Anyone else could have put a socket
// there (a squatted directory) to read and forge our accounts. Says why once per process.
bool TrustedDaemon(int fd, const std::string& path) {
  base::PeerCred cred;
  const uid_t me = ::geteuid();
  if (base::GetPeerCred(fd, &cred) && (cred.uid == 0 || cred.uid == me)) return true;
  static std::atomic<bool> told{false};
  if (!told.exchange(true))
    std::fprintf(stderr,
                 "ttmem: not reporting to %s: the process serving it runs as uid %u, neither root "
                 "nor this process's uid %u (set TTMEM_SOCKET to your own daemon's socket)\n",
                 path.c_str(), static_cast<unsigned>(cred.uid), static_cast<unsigned>(me));
  return false;
}

AckResult TryConnect(const std::string& path, int ack_timeout_ms, base::UniqueFd* fd) {
  *fd = base::ConnectUnix(path, /*nonblocking=*/false);
  if (!*fd) return AckResult::kFailed;
  if (!TrustedDaemon(fd->get(), path)) {
    fd->reset();
    return AckResult::kFailed;
  }
  timeval send_timeout{2, 0};
  ::setsockopt(fd->get(), SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout));
  g_link.connecting.store(1);
  AckResult r = SendHello(fd->get()) ? ReceiveAck(fd->get(), ack_timeout_ms) : AckResult::kFailed;
  if (r == AckResult::kOk) {
    OnConnected(fd->get());
  } else if (r == AckResult::kFailed) {
    g_link.connecting.store(0);
    fd->reset();
  }
  return r;
}

// Sends one round of the resync log (the ring heads at the switch, the frees, the allocations)
// and waits for the ack.
bool DeliverChunk(int fd, proto::FrameReader& reader, const ResyncLog::Chunk& chunk,
                  uint64_t sequence) {
  constexpr size_t kPerFrame = proto::kMaxClientPayload / sizeof(proto::SyncRecord);
  {
    ttmem::base::MutexLock lock(g_sock_mu);
    proto::SyncBeginBody b{sequence, 0};
    if (!proto::SendFrame(fd, proto::FrameType::kSyncBegin, &b, sizeof(b))) return false;
    for (const auto* part : {&chunk.frees, &chunk.allocs}) {
      for (size_t i = 0; i < part->size(); i += kPerFrame) {
        size_t n = std::min(kPerFrame, part->size() - i);
        if (!proto::SendFrame(fd, proto::FrameType::kSync, part->data() + i,
                              static_cast<uint32_t>(n * sizeof(proto::SyncRecord))))
          return false;
      }
    }
    proto::SyncEndBody end{sequence, chunk.events};
    if (!proto::SendFrame(fd, proto::FrameType::kSyncEnd, &end, sizeof(end))) return false;
  }
  // Wait for the ack of this round for as long as the connection lives: the application does not
  // wait (it reports to the log meanwhile), and giving up would only force a reconnect.
  for (;;) {
    proto::Frame f;
    proto::ReadResult r = reader.Next(fd, &f);
    if (r == proto::ReadResult::kFrame) {
      proto::SyncEndBody ack;
      if (f.header.type == static_cast<uint16_t>(proto::FrameType::kSyncAck) &&
          f.payload.size() == sizeof(ack)) {
        std::memcpy(&ack, f.payload.data(), sizeof(ack));
        if (ack.sequence == sequence) return true;
      }
      continue;
    }
    if (r != proto::ReadResult::kAgain) return false;
    pollfd p{fd, POLLIN, 0};
    ::poll(&p, 1, 1000);
  }
}

// Takes the log, switches back to the rings, and delivers what was taken. False if the
// connection failed (the log is put back; the connection is then given up).
bool Resync(int fd, proto::FrameReader& reader) {
  uint64_t sequence = 0;
  ResyncLog::Chunk chunk = TakeLogAndSwitchToRings(&sequence);
  // Even an empty round is delivered: the daemon holds ring records back until its kSyncEnd.
  bool ok = DeliverChunk(fd, reader, chunk, sequence);
  if (!ok) {
    g_link.log_mode.store(1);
    g_link.log->PutBack(std::move(chunk));
  }
  g_link.sync_inflight.store(0);
  return ok;
}

// Serves one connection until the daemon goes away: resync whenever the log mode is on.
void RunConnected(base::UniqueFd fd) {
  timeval none{0, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
  proto::FrameReader reader(4096);
  for (;;) {
    if (g_link.log_mode.load() != 0 && !Resync(fd.get(), reader)) break;
    pollfd p[2] = {{fd.get(), POLLIN, 0}, {g_link.connector_wake, POLLIN, 0}};
    int n = ::poll(p, 2, -1);
    if (n < 0 && errno != EINTR) break;
    if ((p[1].revents & POLLIN) != 0) {
      uint64_t v;
      while (::read(g_link.connector_wake, &v, sizeof(v)) > 0) {
      }
      ttmem::base::MutexLock lock(g_sock_mu);  // names a pushing thread could not send
      SendOpNamesLocked();
    }
    if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      proto::Frame f;
      proto::ReadResult r = reader.Next(fd.get(), &f);
      if (r != proto::ReadResult::kFrame && r != proto::ReadResult::kAgain) break;
    }
  }
  // The daemon is gone: events go to the log until the next one has everything.
  g_link.log_mode.store(1);
  g_link.connected.store(0);
  ttmem::base::MutexLock lock(g_sock_mu);
  g_link.sock_fd = -1;
}

}  // namespace

InitialConnection ConnectAtInit(int ack_timeout_ms) {
  base::UniqueFd fd;
  AckResult r = TryConnect(proto::DefaultSocketPath(), ack_timeout_ms, &fd);
  return InitialConnection{fd.release(), r == AckResult::kTimeout};
}

void* ConnectorMain(void* arg) {
  InitialConnection first = *static_cast<InitialConnection*>(arg);
  delete static_cast<InitialConnection*>(arg);
  const std::string path = proto::DefaultSocketPath();
  if (first.fd >= 0) {
    base::UniqueFd fd(first.fd);
    if (first.pending) {
      if (ReceiveAck(fd.get(), 5000) == AckResult::kOk) {
        OnConnected(fd.get());
      } else {
        g_link.connecting.store(0);
        fd.reset();
      }
    }
    if (fd) RunConnected(std::move(fd));
  }
  useconds_t backoff_us = 50000;
  for (;;) {
    base::UniqueFd fd;
    AckResult r = TryConnect(path, 5000, &fd);
    if (r == AckResult::kTimeout) {
      g_link.connecting.store(0);
      fd.reset();
    }
    if (r == AckResult::kOk) {
      backoff_us = 50000;
      RunConnected(std::move(fd));
    }
    ::usleep(backoff_us);
    backoff_us = backoff_us * 2 > 2000000 ? 2000000 : backoff_us * 2;
  }
  return nullptr;
}

}  // namespace ttmem::client
