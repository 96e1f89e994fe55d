#include "daemon/connection.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cstring>

#include <fmt/format.h>

#include "daemon/log.h"
#include "daemon/loop_thread.h"

namespace ttmem::daemon {

void Outbox::AppendFrame(proto::FrameType type, const void* payload, size_t n) {
  const size_t at = BeginFrame();
  buf_.append(static_cast<const char*>(payload), n);
  EndFrame(at, type);
}

std::string Outbox::Framed(proto::FrameType type, std::string_view payload) {
  std::string f;
  f.reserve(sizeof(proto::FrameHeader) + payload.size());
  const proto::FrameHeader h{proto::kFrameMagic, proto::kWireVersion, static_cast<uint16_t>(type),
                             static_cast<uint32_t>(payload.size()), 0};
  f.append(reinterpret_cast<const char*>(&h), sizeof(h));
  f.append(payload);
  return f;
}

void Outbox::AppendFramed(std::string&& frame) {
  if (off_ == buf_.size()) {
    buf_ = std::move(frame);
    off_ = 0;
  } else {
    buf_.append(frame);
  }
}

size_t Outbox::BeginFrame() {
  const size_t at = buf_.size();
  buf_.append(sizeof(proto::FrameHeader), '\0');
  return at;
}

void Outbox::EndFrame(size_t at, proto::FrameType type) {
  proto::FrameHeader h{proto::kFrameMagic, proto::kWireVersion, static_cast<uint16_t>(type),
                       static_cast<uint32_t>(buf_.size() - at - sizeof(proto::FrameHeader)), 0};
  std::memcpy(buf_.data() + at, &h, sizeof(h));
}

Outbox::Sent Outbox::Flush(int fd) {
  while (off_ < buf_.size()) {
    ssize_t n = ::send(fd, buf_.data() + off_, buf_.size() - off_, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return Sent::kError;
      if (off_ >= (1u << 20) && off_ * 2 >= buf_.size()) {
        buf_.erase(0, off_);
        off_ = 0;
      }
      return Sent::kBlocked;
    }
    off_ += static_cast<size_t>(n);
  }
  Clear();
  return Sent::kAll;
}

void Outbox::Clear() {
  buf_.clear();
  off_ = 0;
  if (buf_.capacity() > (1u << 20)) std::string().swap(buf_);  // an idle peer holds little
}

Connection& Connections::Add(std::unique_ptr<Connection> c) {
  LoopThread::Check();
  ++by_uid_[c->cred.uid];
  Connection& ref = *c;
  conns_.emplace(c->id, std::move(c));
  return ref;
}

Connection* Connections::Find(uint64_t id) {
  auto it = conns_.find(id);
  return it == conns_.end() ? nullptr : it->second.get();
}

void Connections::Erase(uint64_t id) {
  LoopThread::Check();
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  Connection& c = *it->second;
  c.out.Clear();
  Account(c);
  if (auto n = by_uid_.find(c.cred.uid); n != by_uid_.end() && --n->second == 0) by_uid_.erase(n);
  conns_.erase(it);
}

uint32_t Connections::OfUid(uid_t uid) const {
  auto it = by_uid_.find(uid);
  return it == by_uid_.end() ? 0 : it->second;
}

bool Connections::Room(const Connection& c, uint64_t add, uint64_t reserve) const {
  auto u = out_by_uid_.find(c.cred.uid);
  const uint64_t uid_bytes = u == out_by_uid_.end() ? 0 : u->second;
  // The uid's figure already holds this connection's.
  return c.out.size() + add <= kMaxOutPerConn + reserve &&
         uid_bytes + add <= kMaxOutPerUid + reserve;
}

void Connections::Account(Connection& c) {
  const uint64_t now = c.out.size();
  if (now == c.out.accounted_) return;
  uint64_t& uid_bytes = out_by_uid_[c.cred.uid];
  uid_bytes = uid_bytes - c.out.accounted_ + now;
  c.out.accounted_ = now;
  if (uid_bytes == 0) out_by_uid_.erase(c.cred.uid);
}

void Connections::DoomIfOver(Connection& c) {
  if (c.doomed || c.out.empty() || Room(c, 0)) return;
  ++errors_;
  Doom(c, fmt::format("its unsent replies exceed the limit ({} MiB per connection, {} MiB per uid)",
                      kMaxOutPerConn >> 20, kMaxOutPerUid >> 20));
}

bool Connections::BeginReply(Connection& c) {
  // A peer that has read everything always gets its answer; one that still has unsent bytes
  // while it or its uid is over the allowance never reads: stop buffering for it.
  DoomIfOver(c);
  return !c.doomed;
}

void Connections::EndReply(Connection& c) {
  Account(c);
  Flush(c);
  // What the socket did not take counts; past the allowance it is dropped with the peer (so a
  // uid holds at most its allowance plus the reply being built).
  DoomIfOver(c);
}

void Connections::Reply(Connection& c, proto::FrameType type, const std::string& payload) {
  if (!BeginReply(c)) return;
  c.out.AppendFrame(type, payload.data(), payload.size());
  EndReply(c);
}

void Connections::ReplyFramed(Connection& c, std::string&& frame) {
  if (!BeginReply(c)) return;
  c.out.AppendFramed(std::move(frame));
  EndReply(c);
}

void Connections::Flush(Connection& c) {
  if (c.doomed) return;
  for (;;) {
    const Outbox::Sent sent = c.out.Flush(c.fd.get());
    Account(c);
    if (sent == Outbox::Sent::kError) {
      Doom(c, "");
      return;
    }
    if (sent == Outbox::Sent::kBlocked) {
      WantWritable(c, true);
      return;
    }
    if (!on_empty || !on_empty(c)) break;
  }
  WantWritable(c, false);
}

void Connections::WantWritable(Connection& c, bool want) {
  if (c.want_out == want) return;
  c.want_out = want;
  Interest(c);
}

void Connections::Hold(Connection& c, bool held) {
  if (c.held == held) return;
  c.held = held;
  Interest(c);
}

void Connections::Interest(Connection& c) {
  epoll_event ev{};
  ev.events =
      (c.held ? 0u : uint32_t{EPOLLIN | EPOLLRDHUP}) | (c.want_out ? uint32_t{EPOLLOUT} : 0u);
  ev.data.u64 = Token(Source::kConn, c.id);
  if (::epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd.get(), &ev) != 0)
    Doom(c, fmt::format("epoll_ctl: {}", std::strerror(errno)));
}

void Connections::Doom(Connection& c, const std::string& why) {
  if (c.doomed) return;
  if (!why.empty()) LogInfo("closing {}: {}", describe ? describe(c) : "a peer", why);
  c.doomed = true;
  doomed_.push_back(c.id);
}

std::vector<uint64_t> Connections::TakeDoomed() {
  std::vector<uint64_t> ids;
  ids.swap(doomed_);
  return ids;
}

}  // namespace ttmem::daemon
