// query_service.h — the query side: JSON requests from `ttmem`, monitors and scripts
// (docs/protocol.md §3), one short method per command, and the status subscriptions.
//
// Every numeric field a request may carry is checked once, before any command runs (present
// means an integer in its range). Replies go through the connection's outbox: a slow reader
// never stalls the loop, and one that stops reading is dropped at its allowance.
#ifndef TTMEM_DAEMON_QUERY_SERVICE_H_
#define TTMEM_DAEMON_QUERY_SERVICE_H_

#include <cstdint>
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
#include "daemon/reporters.h"
#include "daemon/shm_watcher.h"
#include "daemon/status_builder.h"
#include "ledger/ledger.h"
#include "protocol/frames.h"

namespace ttmem::daemon {

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

 private:
  using Command = void (QueryService::*)(Connection&, const nlohmann::json&);
  static const std::map<std::string_view, Command>& Commands();
  // False (with the error replied) when a numeric field is not an integer in its range.
  bool CheckNumbers(Connection& c, const nlohmann::json& req);

  void Status(Connection& c, const nlohmann::json& req);
  void Subscribe(Connection& c, const nlohmann::json& req);
  void Buffers(Connection& c, const nlohmann::json& req);
  void Fragmentation(Connection& c, const nlohmann::json& req);
  void Snapshot(Connection& c, const nlohmann::json& req);
  void Events(Connection& c, const nlohmann::json& req);
  void EventsFlush(Connection& c, const nlohmann::json& req);
  void HistoryOf(Connection& c, const nlohmann::json& req);
  void Ping(Connection& c, const nlohmann::json& req);

  void SendStatus(Connection& c);  // the status document, built into c's outbox
  bool AnotherUsers(Connection& c, pid_t pid, const char* what);
  // The per-uid budget of the queries that walk every live buffer (snapshot, buffers,
  // fragmentation): false (with the error replied) when a non-root uid has spent it.
  bool Admit(Connection& c, std::string_view cmd);
  DaemonMeta Meta() const;
  // The fragmentation of every announced device, recomputed when the ledger changed (one walk
  // over the live buffers for all devices). `cells` 0: any strip width will do.
  const std::map<uint32_t, std::vector<TypeFragmentation>>& FragmentationAll(uint32_t cells);

  Context ctx_;
  StatusReplies status_replies_;  // the status document's model and memo, between replies
  std::map<uint32_t, std::vector<TypeFragmentation>> frag_;
  uint64_t frag_version_ = ~0ull;
  uint32_t frag_cells_ = 0;
  uint64_t metrics_built_ns_ = 0;
  uint64_t failed_queries_ = 0;  // queries whose handler threw: answered with an error
  struct Budget {
    double tokens = 0;
    uint64_t last_ns = 0;
  };
  std::map<uid_t, Budget> budgets_;  // per non-root uid that asked for an expensive query
  uint64_t throttled_queries_ = 0;
};

}  // namespace ttmem::daemon

#endif  // TTMEM_DAEMON_QUERY_SERVICE_H_
