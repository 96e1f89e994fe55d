// query_jobs.cc — QueryService's expensive queries (snapshot, buffers, fragmentation): checked
// at once, then one at a time on the query worker, users in turn (query_service.h).
#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/text.h"
#include "daemon/log.h"
#include "daemon/query_service.h"
#include "daemon/snapshot.h"
#include "model/replies.h"
#include "protocol/mem_types.h"

namespace ttmem::daemon {
namespace {

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
