// server.h — ttmemd's event loop: one thread, one epoll.
//
// Sources: the listening socket; connections (a reporting client after kHello, a query peer after
// kQuery); each client's pidfd (process exit); a timerfd that paces draining; the wake eventfd
// that clients write when the daemon sleeps long; a signalfd (SIGTERM/SIGINT stop, SIGHUP logs).
#ifndef TTMEM_DAEMON_SERVER_H_
#define TTMEM_DAEMON_SERVER_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/socket.h"
#include "base/unique_fd.h"
#include "daemon/coverage.h"
#include "daemon/fragmentation.h"
#include "daemon/history.h"
#include "daemon/metrics.h"
#include "daemon/session.h"
#include "daemon/status_json.h"
#include "ledger/ledger.h"
#include "ttshm/tt_shm.h"

namespace ttmem::daemon {

// CLOCK_REALTIME in ns: the event stream's time base.
uint64_t RealtimeNs();
// The event stream's {"event": "device", ...} notice of an announcement.
nlohmann::json DeviceNotice(uint32_t device, const ledger::DeviceInfo& info);

struct Options {
  std::string socket_path;
  uint32_t socket_mode = 0;  // 0: 0666 under /run/ttmem, else 0600
  bool verbose = false;
  std::string log_path;                    // empty: stderr; SIGHUP reopens it
  uint32_t max_connections_per_uid = 256;  // reporting clients and query peers together
  uint64_t max_live_buffers_per_uid = 1ull << 24;
  uint32_t history_seconds = 300;    // samples kept per device and per process (one a second)
  std::string shm_dir = "/dev/shm";  // tt-metal's own statistics; empty: not read
  std::string driver_dir = "/proc/driver/tenstorrent";  // N/pids: who holds device N open
  std::string metrics_listen;                           // ADDR:PORT for Prometheus; empty: off
};

class Server {
 public:
  explicit Server(Options options);
  ~Server();
  // Binds the socket (refusing if another daemon serves it), or takes the one systemd passed
  // (socket activation: LISTEN_FDS=1, fd 3). Returns false with *error set.
  bool Start(std::string* error);
  // Runs until SIGTERM/SIGINT. Returns the process exit code.
  int Run();
  int metrics_port() const { return metrics_ ? metrics_->port() : 0; }

 private:
  // epoll data: the source's kind in the top byte, the connection id below.
  enum Tag : uint64_t { kListen = 1, kSignal, kTimer, kWake, kConn, kPidfd };
  static constexpr uint64_t Token(Tag tag, uint64_t id) { return (uint64_t{tag} << 56) | id; }

  enum class Role { kUnknown, kClient, kQuery };
  struct Conn {
    uint64_t id = 0;
    base::UniqueFd fd;
    base::FrameReader reader{proto::kMaxClientPayload};
    base::PeerCred cred;
    Role role = Role::kUnknown;
    std::unique_ptr<Session> session;
    base::UniqueFd pidfd;
    std::string out;  // pending reply bytes
    size_t out_off = 0;
    // A monitor's subscription: a status document whenever something changed, at most every
    // subscribe_ms (0: none).
    uint32_t subscribe_ms = 0;
    uint64_t pushed_ns = 0;
    uint64_t pushed_ledger = ~0ull, pushed_meta = ~0ull, pushed_shm = ~0ull;
    // An event subscriber ({"cmd": "events"}): every applied event as kEvents frames, process and
    // device notices as JSON; `events_pid` >= 0 keeps one process's. Events and notices that
    // would grow the unsent bytes past kMaxOutPerConn (or the uid's past kMaxOutPerUid) are
    // dropped for this peer and counted (a "lost" notice once it has caught up).
    bool events = false;
    pid_t events_pid = -1;
    uint64_t events_lost = 0, events_lost_told = 0;
    uint64_t notices_lost = 0;  // JSON notices dropped for the same reason (told with "lost")
    uint64_t notices_lost_told = 0;
    bool want_out = false;  // EPOLLOUT registered
    // Bytes of `out` counted in out_by_uid_ (its size: sent bytes are kept until compacted).
    uint64_t out_accounted = 0;
    // Closed at the next safe point (ReapDoomed): nothing is sent to it or read from it any more.
    bool doomed = false;
  };
  // Unsent bytes per connection and per uid: past these a query peer is disconnected and an
  // event subscriber loses events and notices (counted, told with a "lost" notice).
  static constexpr uint64_t kMaxOutPerConn = 64ull << 20;
  static constexpr uint64_t kMaxOutPerUid = 256ull << 20;
  static constexpr uint64_t kEssentialReserve = 1ull << 20;  // lost and flushed notices

  bool StartLoop(std::string* error);  // the event sources, once the listener exists
  void Accept();
  void OnConnReadable(Conn& c);
  void OnConnWritable(Conn& c);
  bool HandleFrame(Conn& c, base::Frame& f);
  bool HandleHello(Conn& c, base::Frame& f);
  void HandleQuery(Conn& c, const base::Frame& f);
  void SendStatus(Conn& c);  // the status document, built into c.out
  DaemonMeta Meta() const;
  void PushSubscriptions();  // to each subscriber that is due and has news
  bool HasSubscribers() const;
  // The event stream: ArmTap before applying records (sessions append what they apply to tap_
  // while anyone subscribes), FlushTap after, to every subscriber; Notice sends a JSON notice
  // to the subscribers of `pid` (-1: all), after the events before it.
  void ArmTap();
  void FlushTap();
  void Notice(const nlohmann::json& notice, pid_t pid);
  void AppendEvents(Conn& c, const proto::EventRecord* recs, size_t n);
  // False when it did not fit (counted in notices_lost unless `essential`).
  bool AppendNotice(Conn& c, const std::string& text, bool essential = false);
  std::string LostNotice(const Conn& c) const;  // {"event": "lost", ...} since last told
  void TellLost(Conn& c);                       // the lost notice, when there is news and room
  void WantWritable(Conn& c, bool want);        // EPOLLOUT on or off (only when it changes)
  void TapLiveSet(pid_t pid, proto::EventKind kind);  // a process's live buffers as events
  void StartEvents(Conn& c, pid_t pid);               // the snapshot a new subscriber gets
  void ScanShm(bool force);  // re-reads tt-metal's regions, at most once a second
  void UpdateMetrics();      // the Prometheus snapshot, at most once a second
  void Reply(Conn& c, proto::FrameType type, const std::string& payload);
  // A reply written in place: BeginReply (false: the peer was closed), append a header-sized gap
  // at `at` and the payload to c.out, then EndReply fills the header in and starts sending.
  bool BeginReply(Conn& c);
  void EndReply(Conn& c, size_t at, proto::FrameType type);
  // `retire`: the process is gone, keep its anomaly counts in the totals; false when the same
  // process reconnects (its new session restores them). Only at safe points: never while a
  // caller iterates conns_ or holds a Conn& it uses afterwards; elsewhere, Doom.
  void Close(uint64_t id, const std::string& why, bool retire = true);
  // Marks a connection for closing at the next safe point (the loop, between events).
  void Doom(Conn& c, const std::string& why);
  void ReapDoomed();
  // Output accounting: whether `add` more bytes fit the connection's and its uid's allowance,
  // and the bookkeeping after c.out changed.
  bool OutRoom(const Conn& c, uint64_t add, uint64_t reserve = 0) const;
  void AccountOut(Conn& c);
  // New live buffers the uid may still add (--max-live-buffers-per-uid less what it holds).
  uint64_t Allowance(uid_t uid) const;
  void EndSession(Conn& c, bool retire);
  void DrainAll();
  void ScheduleTick(uint32_t ms);
  void OnTimer();
  void OnSignal();
  std::string Describe(const Conn& c) const;
  uint64_t UptimeMs() const;
  // The connection limits that fit the fd budget (RLIMIT_NOFILE, raised to its hard limit).
  void SizeLimitsToFds();
  // The fragmentation of every announced device, recomputed when the ledger changed (one walk
  // over the live buffers for all devices).
  const std::map<uint32_t, std::vector<TypeFragmentation>>& Fragmentation(uint32_t cells);

  Options options_;
  base::UniqueFd epoll_;
  base::UniqueFd listen_;
  base::UniqueFd signal_;
  base::UniqueFd timer_;
  base::UniqueFd wake_;
  bool bound_ = false;
  bool stop_ = false;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns_;
  std::vector<uint64_t> doomed_;                    // ids to close at the next safe point
  std::unordered_map<uid_t, uint64_t> out_by_uid_;  // sum of out_accounted per uid
  std::unordered_map<uid_t, uint32_t> conns_by_uid_;
  uint32_t max_connections_ = 0;          // all uids together (fd budget); 0 until Start
  uint32_t max_connections_per_uid_ = 0;  // the flag, lowered to fit the fd budget
  uint64_t fd_limit_ = 0;
  uint64_t refused_connections_ = 0;
  bool listen_paused_ = false;        // accept ran out of fds: the listener waits for the next tick
  size_t drain_cursor_ = 0;           // where the next tick's drain starts (round robin)
  bool backlog_ = false;              // the last drain stopped at a work cap: drain again at once
  std::vector<uint64_t> read_again_;  // stopped at the frame cap: read again after the others
  // Which uid announced each device, and the pid (the announcement holds while it lives).
  std::map<uint32_t, std::pair<uid_t, pid_t>> announcer_;
  uint64_t device_info_conflicts_ = 0;
  std::map<uint32_t, std::vector<TypeFragmentation>> frag_;
  uint64_t frag_version_ = ~0ull;
  uint32_t frag_cells_ = 0;
  std::map<pid_t, uint64_t> session_by_pid_;
  std::map<pid_t, ProcessMeta> meta_;
  uint64_t meta_version_ = 0;  // the last ProcessMeta::version handed out
  StatusCache status_cache_;   // serialised per-process parts of the status reply
  History history_;
  std::vector<ttshm::Region> shm_;  // tt-metal's regions as last read
  std::string shm_digest_;          // what they said, to notice a change
  uint64_t shm_version_ = 0, shm_scanned_ns_ = 0;
  CoverageCheck coverage_;  // libttmem's figures against tt-metal's, per pid and device
  void CheckCoverage();     // after each scan
  ledger::Ledger ledger_;
  std::vector<proto::EventRecord> tap_;
  std::unique_ptr<MetricsExporter> metrics_;
  uint64_t metrics_built_ns_ = 0;
  uint32_t event_subscribers_ = 0;
  uint32_t tick_ms_ = 0;
  bool wake_wanted_ = false;
  uint64_t events_applied_ = 0;
  uint64_t disconnected_for_errors_ = 0;
  uint64_t started_ns_ = 0;
};

}  // namespace ttmem::daemon

#endif  // TTMEM_DAEMON_SERVER_H_
