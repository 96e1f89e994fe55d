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

#include "base/clock.h"
#include "base/text.h"
#include "daemon/log.h"
#include "daemon/snapshot.h"
#include "model/replies.h"
#include "protocol/mem_types.h"

namespace ttmem::daemon {
namespace {

// Every text in a reply was made valid UTF-8 where it entered (base::ValidUtf8); the replacing
// handler is the second guard: a byte that slipped through becomes U+FFFD, never an exception.
void ReplyJson(Connections& conns, Connection& c, const nlohmann::json& j) {
  conns.Reply(c, proto::FrameType::kQueryReply,
              j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

// The `buffers` reply for a pid that holds nothing here.
const std::string kNoBuffers = model::ToJsonText(model::BuffersReply{});

// The `buffers` reply, from a copy of the process's live buffers (on the query worker).
std::string BuffersReply(const std::vector<ledger::LiveEntry>& live, size_t limit,
                         const ProcessMeta& meta) {
  auto op = [&](uint16_t id) {
    return id == 0 ? std::optional<std::string>() : std::optional<std::string>(meta.OpName(id));
  };
  std::vector<const ledger::LiveEntry*> all;
  all.reserve(live.size());
  std::map<uint16_t, std::array<uint64_t, proto::kNumMemTypes + 1>> ops;  // bytes by type, buffers
  for (const ledger::LiveEntry& e : live) {
    all.push_back(&e);
    if (e.hooked != 0) continue;  // a capture estimate holds no memory
    auto& o = ops[e.op];
    o[e.type] += e.size;
    ++o[proto::kNumMemTypes];
  }
  limit = std::min(limit, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<ptrdiff_t>(limit), all.end(),
                    [](const ledger::LiveEntry* a, const ledger::LiveEntry* b) {
                      return a->size != b->size ? a->size > b->size : a->id < b->id;
                    });
  model::BuffersReply r;
  r.live_buffers = all.size();
  for (size_t i = 0; i < limit; ++i) {
    const ledger::LiveEntry& e = *all[i];
    r.buffers.push_back({e.device, std::string(proto::kMemTypeKeys[e.type]), e.id, e.address,
                         uint64_t{e.size}, e.hooked != 0, op(e.op)});
  }
  for (const auto& [id, o] : ops) {
    model::OpBytes row{op(id), 0, o[proto::kNumMemTypes], {}};
    for (int t = 0; t < proto::kNumMemTypes; ++t) {
      if (o[t] != 0) row.by_type[std::string(proto::kMemTypeKeys[t])] = o[t];
      row.bytes += o[t];
    }
    r.by_op.push_back(std::move(row));
  }
  std::stable_sort(
      r.by_op.begin(), r.by_op.end(),
      [](const model::OpBytes& a, const model::OpBytes& b) { return a.bytes > b.bytes; });
  return model::ToJsonText(r);
}

}  // namespace

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

void QueryService::Handle(Connection& c, const proto::Frame& f) {
  const nlohmann::json req = nlohmann::json::parse(f.payload.begin(), f.payload.end(), nullptr,
                                                   /*allow_exceptions=*/false);
  if (!CheckNumbers(c, req)) return;
  const std::string cmd = req.is_object() && req.contains("cmd") && req["cmd"].is_string()
                              ? req["cmd"].get<std::string>()
                              : "";
  const bool expensive = cmd == "snapshot" || cmd == "buffers" || cmd == "fragmentation";
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
            {{"error", req.is_discarded()
                           ? "request is not valid JSON"
                           : "unknown cmd (expected \"status\", \"subscribe\", \"events\", "
                             "\"history\", \"buffers\", \"fragmentation\", \"snapshot\" or "
                             "\"ping\")"}});
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

// --- The expensive queries, one at a time on the query worker ---------------------------------

void QueryService::WantRefresh(uint64_t now) {
  if (refresh_since_ns_ == 0) refresh_since_ns_ = now;
}

// What can be answered without the worker is answered at once, before the request waits in
// line: malformed requests, another user's pid, a pid that does not report (no drain, no copy).
// False when answered.
bool QueryService::Precheck(Connection& c, const std::string& cmd, const nlohmann::json& req) {
  if (cmd == "fragmentation") return true;
  if (!req.contains("pid")) {
    if (cmd == "buffers") {
      ctx_.conns.Reply(c, proto::FrameType::kQueryReply, kNoBuffers);
    } else {
      ReplyJson(ctx_.conns, c, {{"error", "\"snapshot\" needs a \"pid\""}});
    }
    return false;
  }
  const pid_t pid = req["pid"].get<pid_t>();
  if (cmd == "snapshot") {
    if (req.contains("reason") &&
        (!req["reason"].is_string() ||
         req["reason"].get_ref<const std::string&>().size() > kMaxSnapshotReason)) {
      ReplyJson(ctx_.conns, c,
                {{"error", fmt::format("\"reason\" must be a string of at most {} bytes",
                                       kMaxSnapshotReason)}});
      return false;
    }
    const std::string format = !req.contains("format")     ? "json"
                               : req["format"].is_string() ? req["format"].get<std::string>()
                                                           : "";
    if (format != "json" && format != "text") {
      ReplyJson(ctx_.conns, c, {{"error", "\"format\" must be \"json\" or \"text\""}});
      return false;
    }
  }
  if (AnotherUsers(c, pid, cmd == "snapshot" ? "take its snapshot" : "list its buffers"))
    return false;
  if (ctx_.ledger.processes().count(pid) != 0) return true;
  if (cmd == "buffers") {
    ctx_.conns.Reply(c, proto::FrameType::kQueryReply, kNoBuffers);
  } else {
    SnapshotRequest sr;
    sr.pid = pid;
    if (req.contains("reason")) sr.reason = req["reason"].get<std::string>();
    SnapshotInput in =
        PrepareSnapshot(ctx_.ledger, sr, ctx_.reporters.meta(), {}, {}, base::UnixMs());
    ctx_.conns.Reply(c, proto::FrameType::kQueryReply,
                     BuildSnapshot(in, req.contains("format") && req["format"] == "text"));
  }
  return false;
}

void QueryService::Enqueue(Connection& c, const std::string& cmd, const nlohmann::json& req) {
  if (!Precheck(c, cmd, req)) return;
  ctx_.conns.Hold(c, true);
  pending_[c.cred.uid].push_back(Pending{c.id, cmd, req});
  Dispatch();
}

void QueryService::Dispatch() {
  if (dispatching_) return;
  struct Guard {
    bool& flag;
    ~Guard() { flag = false; }
  } guard{dispatching_ = true};
  while (!busy_) {
    // The metrics' refresh takes its turn when nobody waits, or once it has waited 2 s.
    if (refresh_since_ns_ != 0 &&
        (pending_.empty() || base::MonotonicNs() > refresh_since_ns_ + 2000000000ull)) {
      refresh_since_ns_ = 0;
      try {
        StartRefresh();
      } catch (const std::exception& e) {
        ++failed_queries_;
        LogWarn("refreshing the fragmentation failed: {}", base::TerminalSafe(e.what()));
      }
      continue;
    }
    if (pending_.empty()) break;
    // Users in turn: the next uid after the one served last.
    auto u = pending_.upper_bound(last_uid_);
    if (u == pending_.end()) u = pending_.begin();
    last_uid_ = u->first;
    Pending p = std::move(u->second.front());
    u->second.pop_front();
    if (u->second.empty()) pending_.erase(u);
    Connection* c = ctx_.conns.Find(p.conn);
    if (c == nullptr || c->doomed) continue;
    bool posted = false;
    try {
      posted = Start(*c, p);
    } catch (const std::exception& e) {
      ++failed_queries_;
      LogWarn("query \"{}\" from pid {} failed: {}", p.cmd, c->cred.pid,
              base::TerminalSafe(e.what()));
      ReplyJson(
          ctx_.conns, *c,
          {{"error", fmt::format("the daemon could not answer \"{}\": {}", p.cmd, e.what())}});
    }
    if (!posted) Release(p.conn);
  }
}

bool QueryService::Start(Connection& c, const Pending& p) {
  // The checks again: the state may have changed while the request waited.
  if (p.cmd != "fragmentation" && !Precheck(c, p.cmd, p.req)) return false;
  if (p.cmd == "snapshot") return StartSnapshot(c, p.req);
  if (p.cmd == "buffers") return StartBuffers(c, p.req);
  return StartFragmentation(c, p.req);
}

void QueryService::Release(uint64_t conn) {
  Connection* c = ctx_.conns.Find(conn);
  if (c == nullptr || !c->held) return;
  ctx_.conns.Hold(*c, false);
  ctx_.resume(conn);  // frames it sent meanwhile may wait in its reader
}

void QueryService::Post(uint64_t conn, std::string cmd, std::function<std::string()> build,
                        std::function<std::string()> after) {
  struct Out {
    std::string frame, error;
  };
  auto out = std::make_shared<Out>();
  worker_.Post({[out, build = std::move(build)] {
                  // On the worker: a failure is this query's error, never the daemon's end. The
                  // reply is framed here too, so that the loop only moves it into the outbox.
                  try {
                    const std::string payload = build();
                    if (!payload.empty())
                      out->frame = Outbox::Framed(proto::FrameType::kQueryReply, payload);
                  } catch (const std::exception& e) {
                    out->error = e.what();
                  }
                },
                [this, out, conn, cmd = std::move(cmd), after = std::move(after)] {
                  busy_ = false;
                  std::string payload;
                  try {
                    if (out->error.empty() && after) payload = after();
                  } catch (const std::exception& e) {
                    out->error = e.what();
                  }
                  Connection* c = conn == 0 ? nullptr : ctx_.conns.Find(conn);
                  if (!out->error.empty()) {
                    ++failed_queries_;
                    LogWarn("query \"{}\" failed: {}", cmd, base::TerminalSafe(out->error));
                    if (c != nullptr)
                      ReplyJson(ctx_.conns, *c,
                                {{"error", fmt::format("the daemon could not answer \"{}\": {}",
                                                       cmd, out->error)}});
                  } else if (c != nullptr && !payload.empty()) {
                    ctx_.conns.Reply(*c, proto::FrameType::kQueryReply, payload);
                  } else if (c != nullptr) {
                    ctx_.conns.ReplyFramed(*c, std::move(out->frame));
                  }
                  Release(conn);
                  Dispatch();
                }});
  busy_ = true;  // only once posted: a Post that threw leaves the line moving
}

void QueryService::OnWorkerDone() {
  worker_.RunFinished();
}

bool QueryService::StartBuffers(Connection& c, const nlohmann::json& req) {
  // {"cmd": "buffers", "pid": P, ["limit": N]}: the process's largest live buffers (N <= 1000,
  // default 20), largest first, each with its op; how many it holds in all; and its live memory
  // by op (every op, largest first). Prechecked: P reports to us, and the asker may see it.
  const pid_t pid = req["pid"].get<pid_t>();
  auto p = ctx_.ledger.processes().find(pid);
  struct Job {
    size_t limit = 20;
    std::vector<ledger::LiveEntry> entries;
    ProcessMeta meta;
  };
  auto job = std::make_shared<Job>();
  if (req.contains("limit")) job->limit = std::min<size_t>(req["limit"].get<size_t>(), 1000);
  if (auto m = ctx_.reporters.meta().find(pid); m != ctx_.reporters.meta().end())
    job->meta = m->second;
  job->entries.assign(p->second.live.begin(), p->second.live.end());
  Post(c.id, "buffers", [job] {
    std::string reply = BuffersReply(job->entries, job->limit, job->meta);
    job->entries = {};  // freed here, off the loop
    return reply;
  });
  return true;
}

bool QueryService::StartSnapshot(Connection& c, const nlohmann::json& req) {
  // {"cmd": "snapshot", "pid": P, ["device": D], ["reason": TEXT], ["format": "text"]}:
  // everything process P holds, with its ops, and the state of the devices and types it uses
  // (daemon/snapshot.h). Drained first, as status. Prechecked: well formed, P is in the ledger,
  // and the asker may see it.
  SnapshotRequest sr;
  sr.pid = req["pid"].get<pid_t>();
  if (req.contains("device")) sr.device = req["device"].get<uint32_t>();
  if (req.contains("reason")) sr.reason = req["reason"].get<std::string>();
  const bool text = req.contains("format") && req["format"] == "text";
  const auto& metas = ctx_.reporters.meta();
  // One that does not report (restored after a restart, not reconnected): no drain, no
  // fragmentation.
  const bool reports = metas.count(sr.pid) != 0;
  if (reports) ctx_.drain();
  std::map<uint32_t, std::vector<TypeFragmentation>> fresh;
  std::map<uint32_t, DeviceSpans> spans;
  std::map<uint32_t, uint64_t> versions;  // of the devices summarised anew
  if (reports) {
    std::vector<uint32_t> stale;
    for (uint32_t dev : SnapshotDevices(ctx_.ledger, sr)) {
      if (const CachedFragmentation* f = FreshFragmentation(dev, 0))
        fresh[dev] = f->types;
      else
        stale.push_back(dev);
    }
    if (!stale.empty()) spans = GatherSpans(ctx_.ledger, stale, sr.pid);
    for (const auto& [dev, d] : spans) versions[dev] = d.version;
  }
  auto in = std::make_shared<SnapshotInput>(
      PrepareSnapshot(ctx_.ledger, sr, metas, std::move(fresh), std::move(spans), base::UnixMs()));
  if (!in->found) {  // drained away: an error document, nothing to build
    ctx_.conns.Reply(c, proto::FrameType::kQueryReply, BuildSnapshot(*in, text));
    return false;
  }
  Post(
      c.id, "snapshot",
      [in, text] {
        std::string reply = BuildSnapshot(*in, text);
        in->entries = {};  // freed here, off the loop
        return reply;
      },
      [this, in, versions] {
        for (const auto& [dev, version] : versions)
          if (auto f = in->frag.find(dev); f != in->frag.end())
            KeepFragmentation(dev, version, kSnapshotMapCells, std::move(f->second));
        return std::string();  // the worker's reply
      });
  return true;
}

bool QueryService::StartFragmentation(Connection& c, const nlohmann::json& req) {
  // {"cmd": "fragmentation", ["device": N], ["cells": W]}: per device and type with known bank
  // geometry, the free space of one bank, its largest free block and a strip of W cells.
  const uint64_t asked = req.contains("cells") ? req["cells"].get<uint64_t>() : 0;
  const uint32_t cells = asked == 0 ? 64 : static_cast<uint32_t>(std::min<uint64_t>(asked, 1000));
  std::optional<uint32_t> only;
  if (req.contains("device")) only = req["device"].get<uint32_t>();
  // The devices in the reply, each with its figures when current (else computed by the job).
  std::vector<std::pair<uint32_t, std::vector<TypeFragmentation>>> rows;
  std::vector<uint32_t> stale;
  for (const auto& [id, dev] : ctx_.ledger.devices()) {
    if (!dev.info || (only && *only != id)) continue;
    const CachedFragmentation* f = FreshFragmentation(id, cells);
    rows.emplace_back(id, f != nullptr ? f->types : std::vector<TypeFragmentation>{});
    if (f == nullptr) stale.push_back(id);
  }
  if (stale.empty()) {
    ctx_.conns.Reply(c, proto::FrameType::kQueryReply, FragmentationReply(rows));
    return false;
  }
  struct Job {
    std::map<uint32_t, DeviceSpans> spans;
    std::map<uint32_t, std::pair<uint64_t, std::vector<TypeFragmentation>>> out;
    std::vector<std::pair<uint32_t, std::vector<TypeFragmentation>>> rows;
  };
  auto job = std::make_shared<Job>();
  job->spans = GatherSpans(ctx_.ledger, stale);
  job->rows = std::move(rows);
  Post(
      c.id, "fragmentation",
      [job, cells] {
        for (auto& [id, d] : job->spans) job->out[id] = {d.version, Summarize(d, cells)};
        job->spans.clear();
        for (auto& [id, types] : job->rows)
          if (auto o = job->out.find(id); o != job->out.end()) types = o->second.second;
        return FragmentationReply(job->rows);
      },
      [this, job, cells] {
        for (auto& [id, f] : job->out) KeepFragmentation(id, f.first, cells, std::move(f.second));
        return std::string();  // the worker's reply
      });
  return true;
}

bool QueryService::StartRefresh() {
  std::vector<uint32_t> stale;
  for (const auto& [id, dev] : ctx_.ledger.devices())
    if (dev.info && FreshFragmentation(id, 0) == nullptr) stale.push_back(id);
  if (stale.empty()) return false;
  struct Job {
    std::map<uint32_t, DeviceSpans> spans;
    std::map<uint32_t, std::pair<uint64_t, std::vector<TypeFragmentation>>> out;
  };
  auto job = std::make_shared<Job>();
  job->spans = GatherSpans(ctx_.ledger, stale);
  Post(
      0, "fragmentation (metrics)",
      [job] {
        for (auto& [id, d] : job->spans)
          job->out[id] = {d.version, Summarize(d, kSnapshotMapCells)};
        job->spans.clear();
        return std::string();
      },
      [this, job] {
        for (auto& [id, f] : job->out)
          KeepFragmentation(id, f.first, kSnapshotMapCells, std::move(f.second));
        return std::string();
      });
  return true;
}

const QueryService::CachedFragmentation* QueryService::FreshFragmentation(uint32_t id,
                                                                          uint32_t cells) const {
  auto f = frag_.find(id);
  auto d = ctx_.ledger.devices().find(id);
  if (f == frag_.end() || d == ctx_.ledger.devices().end() || !d->second.info) return nullptr;
  for (const CachedFragmentation& e : f->second)
    if (e.version == d->second.version && (cells == 0 || e.cells == cells)) return &e;
  return nullptr;
}

const QueryService::CachedFragmentation* QueryService::LatestFragmentation(uint32_t id) const {
  auto f = frag_.find(id);
  if (f == frag_.end()) return nullptr;
  const CachedFragmentation* latest = nullptr;
  for (const CachedFragmentation& e : f->second)
    if (latest == nullptr || e.version > latest->version) latest = &e;
  return latest;
}

void QueryService::KeepFragmentation(uint32_t id, uint64_t version, uint32_t cells,
                                     std::vector<TypeFragmentation> types) {
  if (ctx_.ledger.devices().count(id) == 0) {
    frag_.erase(id);
    return;
  }
  // A few strip widths per device (top's, the snapshot's, another monitor's), the oldest
  // computation making room.
  std::vector<CachedFragmentation>& kept = frag_[id];
  auto same = std::find_if(kept.begin(), kept.end(),
                           [&](const CachedFragmentation& e) { return e.cells == cells; });
  if (same != kept.end()) {
    if (same->version > version) return;  // a newer one (computed after this job began) stays
    *same = CachedFragmentation{version, cells, std::move(types)};
    return;
  }
  if (kept.size() >= kWidthsPerDevice)
    kept.erase(std::min_element(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
      return a.version < b.version;
    }));
  kept.push_back(CachedFragmentation{version, cells, std::move(types)});
}

std::string QueryService::FragmentationReply(
    const std::vector<std::pair<uint32_t, std::vector<TypeFragmentation>>>& rows) {
  model::FragmentationReply r;
  for (const auto& [id, frag] : rows) {
    model::FragmentationDevice& d = r.devices.emplace_back();
    d.id = id;
    for (const TypeFragmentation& tf : frag)
      d.types.push_back({std::string(proto::kMemTypeKeys[tf.type]), tf.bank_count, tf.bank_base,
                         tf.bank_size, tf.used_per_bank, tf.free_per_bank, tf.largest_free_block,
                         tf.free_blocks, tf.map});
  }
  return model::ToJsonText(r);
}

}  // namespace ttmem::daemon
