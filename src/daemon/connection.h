// connection.h — one peer of the daemon, and the table of them.
//
// A connection is a reporting client (after kHello: its Session and pidfd) or a query peer
// (after kQuery: a subscription, an event stream). Its state is split by role; what every
// connection has is its socket, frame reader, peer credentials and outbox — the bytes not yet
// sent, written only through Outbox and flushed without ever blocking the loop.
//
// Ownership: the table and every connection in it belong to the loop thread (LoopThread). A
// connection is never closed while a caller may hold it: Doom marks it, the loop closes it
// between events (Connections::TakeDoomed).
#ifndef TTMEM_DAEMON_CONNECTION_H_
#define TTMEM_DAEMON_CONNECTION_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/socket.h"
#include "base/unique_fd.h"
#include "daemon/session.h"
#include "protocol/frames.h"
#include "protocol/wire.h"

namespace ttmem::daemon {

// Unsent bytes of one connection: whole frames, appended at the end, sent from the front.
class Outbox {
 public:
  // One frame: header and payload appended together.
  void AppendFrame(proto::FrameType type, const void* payload, size_t n);
  // A frame written in place (a status document built straight into the buffer): Begin returns
  // where its header goes; the payload is appended to bytes(); End writes the header.
  size_t BeginFrame();
  std::string& bytes() { return buf_; }
  void EndFrame(size_t at, proto::FrameType type);
  // A whole frame made elsewhere (off the loop), and one taken whole: moved in when the outbox is
  // empty (no copy of a 20 MB snapshot on the loop), else appended.
  static std::string Framed(proto::FrameType type, std::string_view payload);
  void AppendFramed(std::string&& frame);

  enum class Sent { kAll, kBlocked, kError };
  // Sends what the socket takes now (MSG_DONTWAIT). kAll leaves the outbox empty; kBlocked keeps
  // the rest (sent bytes are dropped once they are most of the buffer).
  Sent Flush(int fd);
  void Clear();
  size_t size() const { return buf_.size(); }  // what counts against the allowances
  bool empty() const { return buf_.empty(); }
  bool unsent() const { return off_ < buf_.size(); }

 private:
  friend class Connections;
  std::string buf_;
  size_t off_ = 0;
  uint64_t accounted_ = 0;  // size() as last counted in the uid's figure
};

enum class Role { kUnknown, kClient, kQuery };

// A reporting client's part.
struct ClientPart {
  std::unique_ptr<Session> session;
  base::UniqueFd pidfd;
};

// A query peer's part.
struct QueryPart {
  // A monitor's subscription: a status document whenever something changed, at most every
  // subscribe_ms (0: none). The versions are those of the last document sent.
  uint32_t subscribe_ms = 0;
  uint64_t pushed_ns = 0;
  uint64_t pushed_ledger = ~0ull, pushed_meta = ~0ull, pushed_shm = ~0ull;
  // An event subscriber ({"cmd": "events"}); `events_pid` >= 0 keeps one process's. Events and
  // notices that do not fit the outbox allowances are dropped for this peer and counted; the
  // peer is told with a "lost" notice once it has room (EventStream).
  bool events = false;
  pid_t events_pid = -1;
  uint64_t events_lost = 0, events_lost_told = 0;
  uint64_t notices_lost = 0, notices_lost_told = 0;
  bool HasUntoldLosses() const {
    return events_lost != events_lost_told || notices_lost != notices_lost_told;
  }
};

struct Connection {
  uint64_t id = 0;
  base::UniqueFd fd;
  proto::FrameReader reader{proto::kMaxClientPayload};
  base::PeerCred cred;
  Role role = Role::kUnknown;
  Outbox out;
  bool want_out = false;  // EPOLLOUT registered
  // A query peer whose request is being answered by the query worker: its next frames wait
  // (EPOLLIN not registered) so that replies keep the order of the requests.
  bool held = false;
  bool doomed = false;  // closed at the next safe point: nothing is sent or read any more
  ClientPart client;
  QueryPart query;
};

// The epoll data of a source: its kind in the top byte, the connection id below.
enum class Source : uint64_t { kListen = 1, kSignal, kTimer, kWake, kConn, kPidfd, kWorker };
constexpr uint64_t Token(Source s, uint64_t id) {
  return (static_cast<uint64_t>(s) << 56) | id;
}

// Every connection, with what is counted per uid: connections, and unsent bytes (past the
// allowances a query peer is disconnected and an event subscriber loses events, counted).
class Connections {
 public:
  static constexpr uint64_t kMaxOutPerConn = 64ull << 20;
  static constexpr uint64_t kMaxOutPerUid = 256ull << 20;
  static constexpr uint64_t kEssentialReserve = 1ull << 20;  // "lost" and "flushed" notices

  explicit Connections(int epoll_fd) : epoll_(epoll_fd) {}

  Connection& Add(std::unique_ptr<Connection> c);
  Connection* Find(uint64_t id);
  // Removes it (its outbox no longer counted); the caller has ended its session.
  void Erase(uint64_t id);
  size_t size() const { return conns_.size(); }
  uint32_t OfUid(uid_t uid) const;
  const std::unordered_map<uint64_t, std::unique_ptr<Connection>>& all() const { return conns_; }

  // Whether `add` more unsent bytes fit the connection's and its uid's allowance (plus
  // `reserve`), and the uid's figure after the outbox changed.
  bool Room(const Connection& c, uint64_t add, uint64_t reserve = 0) const;
  void Account(Connection& c);

  // A reply frame. BeginReply is false when the peer is doomed or does not read (its unsent
  // bytes already over the allowance: it is then doomed and counted in errors()).
  bool BeginReply(Connection& c);
  void EndReply(Connection& c);  // after frames were appended: account, send, check again
  void Reply(Connection& c, proto::FrameType type, const std::string& payload);
  void ReplyFramed(Connection& c, std::string&& frame);  // Outbox::Framed's

  // Sends what the socket takes; EPOLLOUT while something is left. Never closes: a failed send
  // dooms. `on_empty` (set by the event stream) may append more once everything was sent (the
  // "lost" notice of a subscriber that caught up); it returns whether it did.
  void Flush(Connection& c);
  // Stops (or resumes) reading c's frames.
  void Hold(Connection& c, bool held);
  std::function<bool(Connection&)> on_empty;

  // Marks it for closing at the next safe point; `why` (if any) is logged with describe(c).
  void Doom(Connection& c, const std::string& why);
  std::function<std::string(const Connection&)> describe;
  std::vector<uint64_t> TakeDoomed();

  uint64_t errors() const { return errors_; }  // peers dropped for misbehaving
  void CountError() { ++errors_; }

 private:
  void WantWritable(Connection& c, bool want);
  void Interest(Connection& c);  // EPOLLIN unless held, EPOLLOUT if wanted
  void DoomIfOver(Connection& c);
  int epoll_;
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> conns_;
  std::unordered_map<uid_t, uint32_t> by_uid_;
  std::unordered_map<uid_t, uint64_t> out_by_uid_;  // sum of the uid's outboxes
  std::vector<uint64_t> doomed_;
  uint64_t errors_ = 0;
};

}  // namespace ttmem::daemon

#endif  // TTMEM_DAEMON_CONNECTION_H_
