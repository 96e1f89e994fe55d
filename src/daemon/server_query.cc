// The query side of the server: JSON requests from `ttmem` and scripts, and the buffered,
// non-blocking replies (a slow reader never stalls the event loop).
#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "daemon/server.h"

namespace ttmem::daemon {

void Server::HandleQuery(Conn& c, const base::Frame& f) {
  nlohmann::json req = nlohmann::json::parse(f.payload.begin(), f.payload.end(), nullptr,
                                             /*allow_exceptions=*/false);
  nlohmann::json reply;
  std::string cmd = req.is_object() && req.contains("cmd") && req["cmd"].is_string()
                        ? req["cmd"].get<std::string>()
                        : "";
  if (cmd == "status") {
    DrainAll();  // what clients published before the query is visible in its answer
    DaemonMeta dm;
    dm.pid = ::getpid();
    dm.socket = options_.socket_path;
    dm.uptime_ms = UptimeMs();
    dm.events_applied = events_applied_;
    dm.clients_disconnected_for_errors = disconnected_for_errors_;
    reply = BuildStatus(ledger_, meta_, dm);
  } else if (cmd == "ping") {
    reply = {{"ok", true}, {"protocol_version", proto::kProtocolVersion}};
  } else {
    reply = {{"error", req.is_discarded() ? "request is not valid JSON"
                                          : "unknown cmd (expected \"status\" or \"ping\")"}};
  }
  Reply(c, proto::FrameType::kQueryReply, reply.dump());
}

void Server::Reply(Conn& c, proto::FrameType type, const std::string& payload) {
  proto::FrameHeader h{proto::kFrameMagic, proto::kWireVersion, static_cast<uint16_t>(type),
                       static_cast<uint32_t>(payload.size()), 0};
  if (c.out.size() > 64u * 1024 * 1024) {  // a peer that never reads: stop buffering for it
    Close(c.id, "");
    return;
  }
  c.out.append(reinterpret_cast<const char*>(&h), sizeof(h));
  c.out.append(payload);
  OnConnWritable(c);
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
