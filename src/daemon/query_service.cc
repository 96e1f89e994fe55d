#include "daemon/query_service.h"
#include "protocol/frames.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <climits>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/text.h"
#include "daemon/log.h"
#include "daemon/snapshot.h"
#include "protocol/mem_types.h"

namespace ttmem::daemon {
namespace {

// Every text in a reply was made valid UTF-8 where it entered (base::ValidUtf8); the replacing
// handler is the second guard: a byte that slipped through becomes U+FFFD, never an exception.
void ReplyJson(Connections& conns, Connection& c, const nlohmann::json& j) {
  conns.Reply(c, proto::FrameType::kQueryReply,
              j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
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
        "uid {} asks for snapshot, buffers or fragmentation faster than {} a second: refused "
        "({} in all)",
        c.cred.uid, kExpensivePerSecond, throttled_queries_);
  ReplyJson(ctx_.conns, c,
            {{"error", fmt::format("uid {} asked for \"{}\" too often: each user may ask for "
                                   "snapshot, buffers and fragmentation {} times a second ({} at "
                                   "once); try again shortly",
                                   c.cred.uid, cmd, kExpensivePerSecond, kExpensiveBurst)}});
  return false;
}

const std::map<std::string_view, QueryService::Command>& QueryService::Commands() {
  static const std::map<std::string_view, Command> kCommands = {
      {"status", &QueryService::Status},     {"subscribe", &QueryService::Subscribe},
      {"buffers", &QueryService::Buffers},   {"fragmentation", &QueryService::Fragmentation},
      {"events", &QueryService::Events},     {"events_flush", &QueryService::EventsFlush},
      {"history", &QueryService::HistoryOf}, {"ping", &QueryService::Ping},
      {"snapshot", &QueryService::Snapshot},
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
  auto it = Commands().find(cmd);
  if (it != Commands().end()) {
    if ((cmd == "snapshot" || cmd == "buffers" || cmd == "fragmentation") && !Admit(c, cmd)) return;
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
                             "\"history\", \"buffers\", \"fragmentation\" or \"ping\")"}});
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

void QueryService::Buffers(Connection& c, const nlohmann::json& req) {
  // {"cmd": "buffers", "pid": P, ["limit": N]}: the process's largest live buffers (N <= 1000,
  // default 20), largest first, each with its op; how many it holds in all; and its live memory
  // by op (every op, largest first).
  nlohmann::json list = nlohmann::json::array(), by_op = nlohmann::json::array();
  size_t total = 0;
  if (req.contains("pid")) {
    const pid_t pid = req["pid"].get<pid_t>();
    if (AnotherUsers(c, pid, "list its buffers")) return;
    size_t limit = req.contains("limit") ? std::min<size_t>(req["limit"].get<size_t>(), 1000) : 20;
    auto p = ctx_.ledger.processes().find(pid);
    static const ProcessMeta kNoMeta{};
    auto m = ctx_.reporters.meta().find(pid);
    const ProcessMeta& meta = m != ctx_.reporters.meta().end() ? m->second : kNoMeta;
    auto op = [&](uint16_t id) {
      return id == 0 ? nlohmann::json() : nlohmann::json(meta.OpName(id));
    };
    if (p != ctx_.ledger.processes().end()) {
      std::vector<const ledger::LiveEntry*> all;
      all.reserve(p->second.live.size());
      std::map<uint16_t, std::array<uint64_t, ledger::kNumTypes + 1>>
          ops;  // bytes by type, buffers
      for (const ledger::LiveEntry& e : p->second.live) {
        all.push_back(&e);
        if (e.hooked != 0) continue;  // a capture estimate holds no memory
        auto& o = ops[e.op];
        o[e.type] += e.size;
        ++o[ledger::kNumTypes];
      }
      total = all.size();
      limit = std::min(limit, all.size());
      std::partial_sort(all.begin(), all.begin() + static_cast<ptrdiff_t>(limit), all.end(),
                        [](const ledger::LiveEntry* a, const ledger::LiveEntry* b) {
                          return a->size != b->size ? a->size > b->size : a->id < b->id;
                        });
      for (size_t i = 0; i < limit; ++i) {
        const ledger::LiveEntry& e = *all[i];
        list.push_back({{"device", e.device},
                        {"type", std::string(proto::kMemTypeKeys[e.type])},
                        {"id", e.id},
                        {"address", e.address},
                        {"size", uint64_t{e.size}},
                        {"capture", e.hooked != 0},
                        {"op", op(e.op)}});
      }
      std::vector<std::pair<uint64_t, nlohmann::json>> rows;
      for (const auto& [id, o] : ops) {
        nlohmann::json bytes = nlohmann::json::object();
        uint64_t sum = 0;
        for (int t = 0; t < ledger::kNumTypes; ++t) {
          if (o[t] != 0) bytes[std::string(proto::kMemTypeKeys[t])] = o[t];
          sum += o[t];
        }
        rows.emplace_back(sum, nlohmann::json{{"op", op(id)},
                                              {"bytes", sum},
                                              {"by_type", bytes},
                                              {"buffers", o[ledger::kNumTypes]}});
      }
      std::stable_sort(rows.begin(), rows.end(),
                       [](const auto& a, const auto& b) { return a.first > b.first; });
      for (auto& [sum, row] : rows) by_op.push_back(std::move(row));
    }
  }
  ReplyJson(ctx_.conns, c,
            {{"buffers", std::move(list)}, {"live_buffers", total}, {"by_op", std::move(by_op)}});
}

void QueryService::Snapshot(Connection& c, const nlohmann::json& req) {
  // {"cmd": "snapshot", "pid": P, ["device": D], ["reason": TEXT], ["format": "text"]}:
  // everything process P holds, with its ops, and the state of the devices and types it uses
  // (daemon/snapshot.h). Drained first, as status. Only P's own user (or root) may take it.
  if (!req.contains("pid")) {
    ReplyJson(ctx_.conns, c, {{"error", "\"snapshot\" needs a \"pid\""}});
    return;
  }
  SnapshotRequest sr;
  sr.pid = req["pid"].get<pid_t>();
  if (req.contains("device")) sr.device = req["device"].get<uint32_t>();
  if (req.contains("reason")) {
    if (!req["reason"].is_string() ||
        req["reason"].get_ref<const std::string&>().size() > kMaxSnapshotReason) {
      ReplyJson(ctx_.conns, c,
                {{"error", fmt::format("\"reason\" must be a string of at most {} bytes",
                                       kMaxSnapshotReason)}});
      return;
    }
    sr.reason = req["reason"].get<std::string>();
  }
  // A field of the wrong type must not reach value() (it throws): checked first.
  const std::string format = !req.contains("format")     ? "json"
                             : req["format"].is_string() ? req["format"].get<std::string>()
                                                         : "";
  if (format != "json" && format != "text") {
    ReplyJson(ctx_.conns, c, {{"error", "\"format\" must be \"json\" or \"text\""}});
    return;
  }
  const auto& metas = ctx_.reporters.meta();
  if (AnotherUsers(c, sr.pid, "take its snapshot")) return;
  // A pid that does not report costs nothing: no drain, no fragmentation.
  static const std::map<uint32_t, std::vector<TypeFragmentation>> kNone;
  const bool reports = metas.count(sr.pid) != 0;
  if (reports) ctx_.drain();
  nlohmann::json snap =
      BuildSnapshot(ctx_.ledger, sr, metas, reports ? FragmentationAll(0) : kNone, base::UnixMs());
  if (format == "text" && !snap.contains("error")) {
    ctx_.conns.Reply(c, proto::FrameType::kQueryReply, snap["summary"].get<std::string>());
    return;
  }
  ReplyJson(ctx_.conns, c, snap);
}

void QueryService::Fragmentation(Connection& c, const nlohmann::json& req) {
  // {"cmd": "fragmentation", ["device": N], ["cells": W]}: per device and type with known bank
  // geometry, the free space of one bank, its largest free block and a strip of W cells.
  const uint32_t cells =
      req.contains("cells")
          ? static_cast<uint32_t>(std::min<uint64_t>(req["cells"].get<uint64_t>(), 1000))
          : 64;
  std::optional<uint32_t> only;
  if (req.contains("device")) only = req["device"].get<uint32_t>();
  nlohmann::json devices = nlohmann::json::array();
  for (const auto& [id, frag] : FragmentationAll(cells)) {
    if (only && *only != id) continue;
    nlohmann::json types = nlohmann::json::array();
    for (const TypeFragmentation& tf : frag)
      types.push_back({{"type", std::string(proto::kMemTypeKeys[tf.type])},
                       {"bank_count", tf.bank_count},
                       {"bank_base", tf.bank_base},
                       {"bank_size", tf.bank_size},
                       {"used_per_bank_bytes", tf.used_per_bank},
                       {"free_per_bank_bytes", tf.free_per_bank},
                       {"largest_free_block_bytes", tf.largest_free_block},
                       {"free_blocks", tf.free_blocks},
                       {"map", tf.map}});
    devices.push_back({{"id", id}, {"types", std::move(types)}});
  }
  ReplyJson(ctx_.conns, c, {{"devices", std::move(devices)}});
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
  ReplyJson(ctx_.conns, c, ctx_.history.ToJson(device, pid));
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
  std::map<std::pair<uint32_t, std::string>, uint64_t> largest;
  for (const auto& [id, frag] : FragmentationAll(0))
    for (const TypeFragmentation& tf : frag)
      largest[{id, std::string(proto::kMemTypeKeys[tf.type])}] = tf.largest_free_block;
  metrics.Update(status, largest);
}

const std::map<uint32_t, std::vector<TypeFragmentation>>& QueryService::FragmentationAll(
    uint32_t cells) {
  if (frag_version_ == ctx_.ledger.version() && (cells == 0 || cells == frag_cells_)) return frag_;
  frag_cells_ = cells == 0 ? 1 : cells;
  frag_ = ComputeFragmentationAll(ctx_.ledger, frag_cells_);
  frag_version_ = ctx_.ledger.version();
  return frag_;
}

}  // namespace ttmem::daemon
