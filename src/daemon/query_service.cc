#include "daemon/query_service.h"
#include "protocol/frames.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <climits>
#include <map>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/text.h"
#include "daemon/log.h"
#include "daemon/snapshot.h"
#include "model/replies.h"
#include "protocol/mem_types.h"

namespace ttmem::daemon {
// Every text in a reply was made valid UTF-8 where it entered (base::ValidUtf8); the replacing
// handler is the second guard: a byte that slipped through becomes U+FFFD, never an exception.
void ReplyJson(Connections& conns, Connection& c, const nlohmann::json& j) {
  conns.Reply(c, proto::FrameType::kQueryReply,
              j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

// Per-buffer detail of a process (addresses, ops: `buffers`, `snapshot`, an event stream that
// follows it) goes to its own user and root only; totals per process stay visible to everyone, as
// nvidia-smi shows them. True (with the error replied) when `pid` is another user's.
bool QueryService::AnotherUsers(Connection& c, pid_t pid, const char* what) {
  const auto& metas = ctx_.reporters.meta();
  auto m = metas.find(pid);
  if (m == metas.end() || c.cred.uid == 0 || c.cred.uid == m->second.uid) return false;
  ReplyJson(ctx_.conns, c,
            {{"error", fmt::format("pid {} belongs to another user (uid {}): only that user or "
                                   "root may {}",
                                   pid, m->second.uid, what)}});
  return true;
}

// One user's flood of the expensive queries must not stall everyone (issue 26: snapshot requests
// from one user on 4 connections made a third user's ping wait 1.9 s): each non-root uid may ask
// kExpensiveBurst at once and kExpensivePerSecond more a second, over all its connections. Root
// (the administrator, and the tests' harness) is not limited.
bool QueryService::Admit(Connection& c, std::string_view cmd) {
  static constexpr double kExpensiveBurst = 8, kExpensivePerSecond = 4;
  if (c.cred.uid == 0) return true;
  if (budgets_.size() > 4096 && budgets_.count(c.cred.uid) == 0) budgets_.clear();
  Budget& b = budgets_[c.cred.uid];
  const uint64_t now = base::MonotonicNs();
  b.tokens = b.last_ns == 0
                 ? kExpensiveBurst
                 : std::min(kExpensiveBurst, b.tokens + static_cast<double>(now - b.last_ns) *
                                                            1e-9 * kExpensivePerSecond);
  b.last_ns = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return true;
  }
  ++throttled_queries_;
  if ((throttled_queries_ & (throttled_queries_ - 1)) == 0)  // 1, 2, 4, 8, ... refusals
    LogWarn(
        "uid {} asks for snapshot, buffers, fragmentation or events faster than {} a second: "
        "refused "
        "({} in all)",
        c.cred.uid, kExpensivePerSecond, throttled_queries_);
  ReplyJson(
      ctx_.conns, c,
      {{"error", fmt::format("uid {} asked for \"{}\" too often: each user may ask for "
                             "snapshot, buffers, fragmentation and events {} times a second ({} at "
                             "once); try again shortly",
                             c.cred.uid, cmd, kExpensivePerSecond, kExpensiveBurst)}});
  return false;
}

const std::map<std::string_view, QueryService::Command>& QueryService::Commands() {
  static const std::map<std::string_view, Command> kCommands = {
      {"status", &QueryService::Status},     {"subscribe", &QueryService::Subscribe},
      {"events", &QueryService::Events},     {"events_flush", &QueryService::EventsFlush},
      {"history", &QueryService::HistoryOf}, {"ping", &QueryService::Ping},
  };
  return kCommands;
}

// Every command the service answers, quoted, in one line ("a", "b" or "c"): from the table.
std::string QueryService::CommandList() {
  std::vector<std::string_view> names(kExpensive.begin(), kExpensive.end());
  for (const auto& [name, command] : Commands()) names.push_back(name);
  std::sort(names.begin(), names.end());
  std::string out;
  for (size_t i = 0; i < names.size(); ++i)
    out += fmt::format("{}\"{}\"", i == 0 ? "" : i + 1 == names.size() ? " or " : ", ", names[i]);
  return out;
}

void QueryService::Handle(Connection& c, const proto::Frame& f) {
  const nlohmann::json req = nlohmann::json::parse(f.payload.begin(), f.payload.end(), nullptr,
                                                   /*allow_exceptions=*/false);
  if (!CheckNumbers(c, req)) return;
  const std::string cmd = req.is_object() && req.contains("cmd") && req["cmd"].is_string()
                              ? req["cmd"].get<std::string>()
                              : "";
  const bool expensive = std::find(kExpensive.begin(), kExpensive.end(), cmd) != kExpensive.end();
  if ((expensive || cmd == "events") && !Admit(c, cmd)) return;
  if (expensive) {
    Enqueue(c, cmd, req);
    return;
  }
  auto it = Commands().find(cmd);
  if (it != Commands().end()) {
    // One query's failure is that query's error, never the end of the daemon.
    try {
      (this->*(it->second))(c, req);
    } catch (const std::exception& e) {
      ++failed_queries_;
      LogWarn("query \"{}\" from pid {} failed: {}", base::TerminalSafe(cmd), c.cred.pid,
              base::TerminalSafe(e.what()));
      ReplyJson(ctx_.conns, c,
                {{"error", fmt::format("the daemon could not answer \"{}\": {}", cmd, e.what())}});
    }
    return;
  }
  ReplyJson(ctx_.conns, c,
            {{"error", req.is_discarded() ? "request is not valid JSON"
                                          : "unknown cmd (expected " + CommandList() + ")"}});
}

bool QueryService::CheckNumbers(Connection& c, const nlohmann::json& req) {
  // Every numeric field any request takes: present means an integer in its range, never
  // silently ignored or truncated. The commands may then read them as they are.
  static constexpr struct {
    const char* key;
    int64_t lo, hi;
  } kNumeric[] = {{"pid", 1, INT32_MAX},
                  {"device", 0, proto::kMaxDevices - 1},
                  {"limit", 0, UINT32_MAX},
                  {"cells", 0, UINT32_MAX},
                  {"interval_ms", 0, UINT32_MAX}};
  if (!req.is_object()) return true;
  for (const auto& field : kNumeric) {
    auto it = req.find(field.key);
    if (it == req.end()) continue;
    const bool ok = (it->is_number_unsigned() && it->get<uint64_t>() <= uint64_t(field.hi) &&
                     it->get<uint64_t>() >= uint64_t(field.lo)) ||
                    (it->is_number_integer() && !it->is_number_unsigned() &&
                     it->get<int64_t>() >= field.lo && it->get<int64_t>() <= field.hi);
    if (!ok) {
      ReplyJson(ctx_.conns, c,
                {{"error", fmt::format("\"{}\" must be an integer from {} to {}", field.key,
                                       field.lo, field.hi)}});
      return false;
    }
  }
  return true;
}

void QueryService::Status(Connection& c, const nlohmann::json& req) {
  // What clients published before the query is visible in its answer, unless the caller asks
  // for what the daemon has applied so far ("drain": false; used to measure the drain latency).
  if (!(req.contains("drain") && req["drain"] == false)) ctx_.drain();
  ctx_.shm.Scan(ctx_.ledger, /*force=*/true);  // tt-metal's regions as they are now
  SendStatus(c);
}

void QueryService::Subscribe(Connection& c, const nlohmann::json& req) {
  // {"cmd": "subscribe", "interval_ms": N}: a status document now, then whenever something
  // changed, at most every N ms (50..60000, default 1000), until the connection closes.
  const uint64_t ms = req.contains("interval_ms") ? req["interval_ms"].get<uint64_t>() : 1000;
  c.query.subscribe_ms = static_cast<uint32_t>(std::clamp<uint64_t>(ms, 50, 60000));
  ctx_.drain();
  SendStatus(c);
}

void QueryService::Events(Connection& c, const nlohmann::json& req) {
  // {"cmd": "events", ["pid": P]}: the event stream (docs/protocol.md) until the peer closes.
  // What was published before the subscription is in its snapshot, not in the stream.
  const pid_t pid = req.contains("pid") ? req["pid"].get<pid_t>() : -1;
  if (pid >= 0 && AnotherUsers(c, pid, "follow its events")) return;
  ctx_.drain();
  ctx_.events.Subscribe(c, pid, ctx_.ledger, ctx_.reporters.meta());
}

void QueryService::EventsFlush(Connection& c, const nlohmann::json&) {
  // On an event stream: apply what clients published, then a "flushed" notice after every
  // event queued for this peer, with what it lost in all. `ttmem record` ends with it.
  if (c.query.events) ctx_.drain();
  ctx_.events.Flushed(c);
}

void QueryService::HistoryOf(Connection& c, const nlohmann::json& req) {
  // {"cmd": "history", ["device": N], ["pid": P]}: the samples the daemon keeps.
  std::optional<uint32_t> device;
  std::optional<pid_t> pid;
  if (req.contains("device")) device = req["device"].get<uint32_t>();
  if (req.contains("pid")) pid = req["pid"].get<pid_t>();
  ctx_.conns.Reply(c, proto::FrameType::kQueryReply,
                   model::ToJsonText(ctx_.history.Reply(device, pid)));
}

void QueryService::Ping(Connection& c, const nlohmann::json&) {
  ReplyJson(ctx_.conns, c, {{"ok", true}, {"protocol_version", proto::kProtocolVersion}});
}

DaemonMeta QueryService::Meta() const {
  DaemonMeta dm;
  dm.pid = ::getpid();
  dm.socket = ctx_.socket_path;
  dm.uptime_ms = (base::MonotonicNs() - ctx_.started_ns) / 1000000;
  dm.events_applied = ctx_.reporters.events_applied();
  dm.clients_disconnected_for_errors = ctx_.conns.errors();
  dm.device_info_conflicts = ctx_.reporters.device_info_conflicts();
  dm.coverage_anomalies = ctx_.shm.anomalies();
  dm.failed_queries = failed_queries_;
  return dm;
}

void QueryService::SendStatus(Connection& c) {
  const DaemonMeta dm = Meta();
  if (!ctx_.conns.BeginReply(c)) return;
  ctx_.shm.Scan(ctx_.ledger, false);
  // Written straight into the connection's outbox (its buffer is kept between replies).
  const size_t at = c.out.BeginFrame();
  status_replies_.Write(ctx_.ledger, ctx_.reporters.meta(), dm, &c.out.bytes(), &ctx_.shm.regions(),
                        &ctx_.shm.driver_pids());
  c.out.EndFrame(at, proto::FrameType::kQueryReply);
  c.query.pushed_ns = base::MonotonicNs();
  c.query.pushed_ledger = ctx_.ledger.version();
  c.query.pushed_meta = ctx_.reporters.meta_version();
  c.query.pushed_shm = ctx_.shm.version();
  ctx_.conns.EndReply(c);
}

bool QueryService::HasSubscribers() const {
  for (const auto& [id, c] : ctx_.conns.all())
    if (c->query.subscribe_ms != 0) return true;
  return false;
}

void QueryService::PushSubscriptions() {
  uint64_t now = 0;
  std::vector<uint64_t> due;
  for (const auto& [id, c] : ctx_.conns.all()) {
    const QueryPart& q = c->query;
    if (q.subscribe_ms == 0) continue;
    if (q.pushed_ledger == ctx_.ledger.version() &&
        q.pushed_meta == ctx_.reporters.meta_version() && q.pushed_shm == ctx_.shm.version())
      continue;
    if (now == 0) now = base::MonotonicNs();
    // A peer still reading the previous document gets the next one after it.
    if (now >= q.pushed_ns + uint64_t{q.subscribe_ms} * 1000000 && !c->out.unsent())
      due.push_back(id);
  }
  for (uint64_t id : due)
    if (Connection* c = ctx_.conns.Find(id)) SendStatus(*c);
}

void QueryService::UpdateMetrics(MetricsExporter& metrics) {
  const uint64_t now = base::MonotonicNs();
  if (metrics_built_ns_ != 0 && now < metrics_built_ns_ + 1000000000ull) return;
  metrics_built_ns_ = now;
  ctx_.shm.Scan(ctx_.ledger, false);
  const model::Status status = BuildStatus(ctx_.ledger, ctx_.reporters.meta(), Meta(),
                                           &ctx_.shm.regions(), &ctx_.shm.driver_pids());
  // The largest free blocks as last computed (on the worker, within about a second). A device
  // never computed yet, holding few buffers (a new one), is computed here, once; a bigger one
  // waits for the worker.
  std::map<std::pair<uint32_t, std::string>, uint64_t> largest;
  std::vector<uint32_t> never;
  for (const auto& [id, dev] : ctx_.ledger.devices()) {
    if (!dev.info || frag_.count(id) != 0) continue;
    uint64_t buffers = 0;
    for (const ledger::Usage& u : dev.usage) buffers += u.buffers;
    if (buffers <= kComputeOnLoopBuffers) never.push_back(id);
  }
  if (!never.empty())
    for (auto& [id, d] : GatherSpans(ctx_.ledger, never))
      KeepFragmentation(id, d.version, kSnapshotMapCells, Summarize(d, kSnapshotMapCells));
  for (const auto& [id, dev] : ctx_.ledger.devices()) {
    if (!dev.info) continue;
    if (FreshFragmentation(id, 0) == nullptr) WantRefresh(now);
    if (const CachedFragmentation* f = LatestFragmentation(id))
      for (const TypeFragmentation& tf : f->types)
        largest[{id, std::string(proto::kMemTypeKeys[tf.type])}] = tf.largest_free_block;
  }
  metrics.Update(status, largest);
  if (refresh_since_ns_ != 0) Dispatch();
}

}  // namespace ttmem::daemon
