// reporters.h — the reporting clients: libttmem processes that say hello, hand over their shared
// region, announce devices, tag themselves and resync; the sessions that drain their rings into
// the ledger (within each uid's live-buffer limit), and what the daemon knows of each process.
//
// Every byte a client sends is checked here before anything is copied (sizes, device numbers,
// texts made printable); a client that breaks the protocol is disconnected and counted.
#ifndef TTMEM_DAEMON_REPORTERS_H_
#define TTMEM_DAEMON_REPORTERS_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "base/socket.h"
#include "daemon/connection.h"
#include "daemon/event_stream.h"
#include "daemon/status_builder.h"
#include "ledger/ledger.h"
#include "protocol/frames.h"

namespace ttmem::daemon {

class Reporters {
 public:
  // What the loop does for the clients: close a connection (safe points only), watch a process's
  // pidfd, drain again soon.
  class Loop {
   public:
    virtual void Close(uint64_t id, const std::string& why, bool retire) = 0;
    virtual void WatchPidfd(Connection& c) = 0;
    virtual void WantFastTick() = 0;
    virtual int wake_fd() const = 0;

   protected:
    ~Loop() = default;
  };

  // Records applied per tick over all sessions (each session at most kMaxRecordsPerDrain): one
  // tick's work stays a few milliseconds however many clients publish at once.
  static constexpr uint64_t kMaxRecordsPerTick = 131072;

  Reporters(ledger::Ledger& ledger, EventStream& events, Connections& conns, Loop& loop,
            uint64_t max_live_buffers_per_uid)
      : ledger_(ledger),
        events_(events),
        conns_(conns),
        loop_(loop),
        max_live_per_uid_(max_live_buffers_per_uid) {}

  // The first frame, kHello: the session, its state table, the process's metadata. False: the
  // peer is refused (the ack says why) and must be closed.
  bool OnHello(Connection& c, proto::Frame& f);
  // Any later frame of a client. False: protocol broken (logged), close it.
  bool OnFrame(Connection& c, proto::Frame& f);
  // The client is gone (`retire`: for good, its anomaly counts go to the totals; false: the
  // same process reconnected). Applies what it published, then reclaims what it held.
  void End(Connection& c, bool retire);

  // One tick's drain of every session, from a rotating start, within kMaxRecordsPerTick.
  struct Drained {
    bool more = false;             // records left in some ring (ordering, or the cap)
    bool backlog = false;          // a cap stopped a drain: drain again at once
    std::vector<uint64_t> broken;  // connections that wrote something impossible: close them
  };
  Drained DrainAll();

  bool any() const { return !session_by_pid_.empty(); }
  void SetWakeWanted(bool want);
  // "pid 42 (python3) uid 1000" for the log (the name made printable).
  std::string Describe(const Connection& c) const;

  const std::map<pid_t, ProcessMeta>& meta() const { return meta_; }
  uint64_t meta_version() const { return meta_version_; }
  uint64_t events_applied() const { return events_applied_; }
  uint64_t device_info_conflicts() const { return device_info_conflicts_; }

 private:
  bool OnDeviceInfo(Connection& c, const proto::Frame& f);
  bool OnOpName(Connection& c, const proto::Frame& f);
  bool OnSync(Connection& c, proto::FrameType type, const proto::Frame& f);
  // New live buffers the uid may still add (the limit less what its processes hold).
  uint64_t Allowance(uid_t uid) const;
  uint64_t LiveOf(pid_t pid) const;

  ledger::Ledger& ledger_;
  EventStream& events_;
  Connections& conns_;
  Loop& loop_;
  const uint64_t max_live_per_uid_;
  std::map<pid_t, uint64_t> session_by_pid_;  // connection ids
  std::map<pid_t, ProcessMeta> meta_;
  uint64_t meta_version_ = 0;  // the last ProcessMeta::version handed out
  // Which uid announced each device, and the pid (the announcement holds while it lives).
  std::map<uint32_t, std::pair<uid_t, pid_t>> announcer_;
  uint64_t device_info_conflicts_ = 0;
  uint64_t events_applied_ = 0;
  size_t drain_cursor_ = 0;  // where the next tick's drain starts (round robin)
};

}  // namespace ttmem::daemon

#endif  // TTMEM_DAEMON_REPORTERS_H_
