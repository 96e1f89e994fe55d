// The query side of the server: JSON requests from `ttmem` and scripts, and the buffered,
// non-blocking replies (a slow reader never stalls the event loop).
#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include <nlohmann/json.hpp>

#include "daemon/server.h"

namespace ttmem::daemon {

void Server::HandleQuery(Conn& c, const base::Frame& f) {
  nlohmann::json req = nlohmann::json::parse(f.payload.begin(), f.payload.end(), nullptr,
                                             /*allow_exceptions=*/false);
  std::string cmd = req.is_object() && req.contains("cmd") && req["cmd"].is_string()
                        ? req["cmd"].get<std::string>()
                        : "";
  if (cmd == "status") {
    // What clients published before the query is visible in its answer, unless the caller asks
    // for what the daemon has applied so far ("drain": false; used to measure the drain latency).
    if (!(req.contains("drain") && req["drain"] == false)) DrainAll();
    DaemonMeta dm;
    dm.pid = ::getpid();
    dm.socket = options_.socket_path;
    dm.uptime_ms = UptimeMs();
    dm.events_applied = events_applied_;
    dm.clients_disconnected_for_errors = disconnected_for_errors_;
    // Written straight into the connection's output buffer (kept between replies).
    if (!BeginReply(c)) return;
    const size_t at = c.out.size();
    c.out.append(sizeof(proto::FrameHeader), '\0');
    BuildStatus(ledger_, meta_, dm, &c.out, &status_cache_);
    EndReply(c, at, proto::FrameType::kQueryReply);
    return;
  }
  std::string reply;
  if (cmd == "ping") {
    reply = nlohmann::json{{"ok", true}, {"protocol_version", proto::kProtocolVersion}}.dump();
  } else {
    reply = nlohmann::json{{"error", req.is_discarded()
                                         ? "request is not valid JSON"
                                         : "unknown cmd (expected \"status\" or \"ping\")"}}
                .dump();
  }
  Reply(c, proto::FrameType::kQueryReply, reply);
}

bool Server::BeginReply(Conn& c) {
  if (c.out.size() - c.out_off > 64u * 1024 * 1024) {  // a peer that never reads: stop buffering
    Close(c.id, "");
    return false;
  }
  return true;
}

void Server::EndReply(Conn& c, size_t at, proto::FrameType type) {
  proto::FrameHeader h{proto::kFrameMagic, proto::kWireVersion, static_cast<uint16_t>(type),
                       static_cast<uint32_t>(c.out.size() - at - sizeof(proto::FrameHeader)), 0};
  std::memcpy(c.out.data() + at, &h, sizeof(h));
  OnConnWritable(c);
}

void Server::Reply(Conn& c, proto::FrameType type, const std::string& payload) {
  if (!BeginReply(c)) return;
  const size_t at = c.out.size();
  c.out.append(sizeof(proto::FrameHeader), '\0');
  c.out.append(payload);
  EndReply(c, at, type);
}

void Server::OnConnWritable(Conn& c) {
  while (c.out_off < c.out.size()) {
    ssize_t n = ::send(c.fd.get(), c.out.data() + c.out_off, c.out.size() - c.out_off,
                       MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP | EPOLLOUT;
        ev.data.u64 = Token(kConn, c.id);
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
        return;
      }
      Close(c.id, "");
      return;
    }
    c.out_off += static_cast<size_t>(n);
  }
  c.out.clear();
  c.out_off = 0;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.u64 = Token(kConn, c.id);
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
}

}  // namespace ttmem::daemon
