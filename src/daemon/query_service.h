// query_service.h — the query side: JSON requests from `ttmem`, monitors and scripts
// (docs/protocol.md §3), one short method per command, and the status subscriptions.
//
// Every numeric field a request may carry is checked once, before any command runs (present
// means an integer in its range). Replies go through the connection's outbox: a slow reader
// never stalls the loop, and one that stops reading is dropped at its allowance.
#ifndef TTMEM_DAEMON_QUERY_SERVICE_H_
#define TTMEM_DAEMON_QUERY_SERVICE_H_

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/socket.h"
#include "daemon/connection.h"
#include "daemon/event_stream.h"
#include "daemon/fragmentation.h"
#include "daemon/history.h"
#include "daemon/metrics.h"
#include "daemon/query_worker.h"
#include "daemon/reporters.h"
#include "daemon/shm_watcher.h"
#include "daemon/status_builder.h"
#include "ledger/ledger.h"
#include "protocol/frames.h"

namespace ttmem::daemon {

// One reply to a query peer: `j` as JSON text (invalid UTF-8 replaced, never thrown on).
void ReplyJson(Connections& conns, Connection& c, const nlohmann::json& j);

class QueryService {
 public:
  // What the service reads, and the one thing it asks of the loop: apply what clients published
  // (a status answer or an event subscription includes everything published before it).
  struct Context {
    const ledger::Ledger& ledger;
    const Reporters& reporters;
    ShmWatcher& shm;
    const History& history;
    EventStream& events;
    Connections& conns;
    std::function<void()> drain;
    // Read a held connection's waiting frames again (its reply is out).
    std::function<void(uint64_t id)> resume;
    std::string socket_path;
    uint64_t started_ns;  // MonotonicNs() at start, for the uptime
  };
  explicit QueryService(Context ctx) : ctx_(std::move(ctx)) {}

  // One request frame of a query peer.
  void Handle(Connection& c, const proto::Frame& f);
  // A status document to each subscriber that is due and has news.
  void PushSubscriptions();
  bool HasSubscribers() const;
  // The Prometheus snapshot, at most once a second.
  void UpdateMetrics(MetricsExporter& metrics);
  // The query worker's event source, and what the loop calls when it is readable.
  int worker_fd() const { return worker_.fd(); }
  void OnWorkerDone();

 private:
  using Command = void (QueryService::*)(Connection&, const nlohmann::json&);
  static const std::map<std::string_view, Command>& Commands();
  // The commands answered on the query worker (query_jobs.cc), not in the table.
  static constexpr std::array<std::string_view, 3> kExpensive = {"buffers", "fragmentation",
                                                                 "snapshot"};
  static std::string CommandList();
  // False (with the error replied) when a numeric field is not an integer in its range.
  bool CheckNumbers(Connection& c, const nlohmann::json& req);

  void Status(Connection& c, const nlohmann::json& req);
  void Subscribe(Connection& c, const nlohmann::json& req);
  void Events(Connection& c, const nlohmann::json& req);
  void EventsFlush(Connection& c, const nlohmann::json& req);
  void HistoryOf(Connection& c, const nlohmann::json& req);
  void Ping(Connection& c, const nlohmann::json& req);

  void SendStatus(Connection& c);  // the status document, built into c's outbox
  bool AnotherUsers(Connection& c, pid_t pid, const char* what);
  // The per-uid budget of the queries that walk every live buffer (snapshot, buffers,
  // fragmentation, events): false (with the error replied) when a non-root uid has spent it.
  bool Admit(Connection& c, std::string_view cmd);
  DaemonMeta Meta() const;

  // The expensive queries (snapshot, buffers, fragmentation) are answered one at a time, users
  // in turn: the asker's connection is held, the loop copies what the answer needs (one walk, no
  // sort), the query worker builds the reply, and the loop sends it. The copies alive at any
  // moment are one job's, so the daemon's memory for them is bounded by the largest process.
  struct Pending {
    uint64_t conn = 0;
    std::string cmd;
    nlohmann::json req;
  };
  // Answers at once what needs no worker (malformed, another user's pid, a pid not here): false
  // when answered.
  bool Precheck(Connection& c, const std::string& cmd, const nlohmann::json& req);
  void Enqueue(Connection& c, const std::string& cmd, const nlohmann::json& req);
  void Dispatch();  // starts the next pending query if the worker is free
  // Starts one: true when a job was posted (the worker is busy), false when it was answered
  // at once (or refused).
  bool Start(Connection& c, const Pending& p);
  bool StartSnapshot(Connection& c, const nlohmann::json& req);
  bool StartBuffers(Connection& c, const nlohmann::json& req);
  bool StartFragmentation(Connection& c, const nlohmann::json& req);
  bool StartRefresh();  // the metrics' fragmentation, when stale
  void WantRefresh(uint64_t now);
  // Posts a job for connection `conn` (0: none): `build` runs on the worker (it may use only what
  // it captured) and returns the reply; `after` runs back on the loop and may return a reply
  // instead (built from the daemon's state). A failure of either is the query's error. Then the
  // connection is released and the next query starts.
  void Post(uint64_t conn, std::string cmd, std::function<std::string()> build,
            std::function<std::string()> after = {});
  void Release(uint64_t conn);

  // Fragmentation per device, kept while the device does not change (ledger::Device::version):
  // a busy device does not invalidate the others'.
  struct CachedFragmentation {
    uint64_t version = 0;
    uint32_t cells = 0;
    std::vector<TypeFragmentation> types;
  };
  // The cached fragmentation of `id` if it is current (and `cells` wide, unless 0).
  const CachedFragmentation* FreshFragmentation(uint32_t id, uint32_t cells) const;
  const CachedFragmentation* LatestFragmentation(uint32_t id) const;  // current or not
  void KeepFragmentation(uint32_t id, uint64_t version, uint32_t cells,
                         std::vector<TypeFragmentation> types);
  static std::string FragmentationReply(
      const std::vector<std::pair<uint32_t, std::vector<TypeFragmentation>>>& rows);
  static constexpr size_t kWidthsPerDevice = 4;
  // A device never computed, with at most this many buffers, is computed on the loop for the
  // metrics (about 2 ms); a bigger one waits for the worker.
  static constexpr uint64_t kComputeOnLoopBuffers = 100000;

  Context ctx_;
  StatusReplies status_replies_;  // the status document's model and memo, between replies
  std::map<uint32_t, std::vector<CachedFragmentation>> frag_;  // a few widths per device
  uint64_t metrics_built_ns_ = 0;
  uint64_t failed_queries_ = 0;  // queries whose handler threw: answered with an error
  struct Budget {
    double tokens = 0;
    uint64_t last_ns = 0;
  };
  std::map<uid_t, Budget> budgets_;  // per non-root uid that asked for an expensive query
  uint64_t throttled_queries_ = 0;
  std::map<uid_t, std::deque<Pending>> pending_;  // by uid, served in turn
  uid_t last_uid_ = 0;                            // the uid served last
  bool busy_ = false;                             // a job is on the worker
  bool dispatching_ = false;
  uint64_t refresh_since_ns_ = 0;  // the metrics want the stale devices' fragmentation
  QueryWorker worker_;             // last: its thread ends before the rest goes
};

}  // namespace ttmem::daemon

#endif  // TTMEM_DAEMON_QUERY_SERVICE_H_
