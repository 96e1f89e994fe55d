#include "daemon/event_stream.h"

#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "protocol/mem_types.h"

namespace ttmem::daemon {
namespace {

proto::EventRecord LiveRecord(pid_t pid, const ledger::LiveEntry& e, proto::EventKind kind,
                              uint64_t now) {
  proto::EventRecord r{};
  r.time_ns = now;
  r.pid = pid;
  r.device = e.device;
  r.type = static_cast<uint8_t>(e.type);
  r.kind = static_cast<uint8_t>(kind);
  r.flags = e.hooked ? proto::kEventFlagHooked : 0;
  r.buffer_id = e.id;
  r.address = e.address;
  r.size = e.size;
  r.op = e.op;
  return r;
}

}  // namespace

model::DeviceNotice DeviceNoticeOf(uint32_t device, const ledger::DeviceInfo& info) {
  model::DeviceNotice n;
  n.device = device;
  n.arch = info.arch;
  if (info.unique_id_valid) n.unique_id = info.unique_id;
  n.num_cores = info.num_cores;
  for (int t = 0; t < proto::kNumMemTypes; ++t) {
    n.capacity_bytes[t] = info.capacity_bytes[t];
    n.bank_count[t] = info.bank_count[t];
    n.bank_base[t] = info.bank_base[t];
  }
  return n;
}

model::ProcessStartNotice ProcessStartNoticeOf(pid_t pid, const ProcessMeta& meta, uint64_t time_ns,
                                               bool existing) {
  model::ProcessStartNotice n;
  n.pid = pid;
  n.time_ns = time_ns;
  n.existing = existing;
  n.name = meta.name;
  n.cmdline = meta.cmdline;
  n.uid = meta.uid;
  n.user = meta.user;
  n.started_unix_ms = meta.started_unix_ms;
  n.ns_pid = meta.ns_pid;
  if (meta.container && !meta.container->claimed) n.container = meta.container->id;
  if (meta.container && meta.container->claimed) n.container_claimed = meta.container->id;
  return n;
}

EventStream::EventStream(Connections& conns) : conns_(conns) {
  // A subscriber that fell behind and has caught up is told what it missed, at once.
  conns_.on_empty = [this](Connection& c) {
    if (!c.query.events || !c.query.HasUntoldLosses()) return false;
    TellLost(c);
    return !c.out.empty();
  };
}

void EventStream::Applied(const proto::EventRecord& record) {
  tap_.push_back(record);
  tap_.back().time_ns = tap_time_ns_;
}

void EventStream::Arm() {
  armed_ = subscribers_ != 0;
  tap_time_ns_ = armed_ ? base::RealtimeNs() : 0;
}

bool EventStream::Foreign(const Connection& c, pid_t pid) const {
  if (c.cred.uid == 0) return false;
  const std::optional<uid_t> uid = owner ? owner(pid) : std::nullopt;
  return uid && *uid != c.cred.uid;
}

bool EventStream::SeesOps(const Connection& c, pid_t pid) const {
  if (c.cred.uid == 0) return true;
  const std::optional<uid_t> uid = owner ? owner(pid) : std::nullopt;
  return uid && *uid == c.cred.uid;
}

void EventStream::Flush() {
  if (tap_.empty()) return;
  std::vector<proto::EventRecord> mine;
  // AppendEvents never closes a connection (a failed send dooms it): the table stays as it is.
  for (const auto& [id, c] : conns_.all()) {
    if (!c->query.events || c->doomed) continue;
    if (c->query.events_pid < 0 && c->cred.uid == 0) {
      AppendEvents(*c, tap_.data(), tap_.size());
      continue;
    }
    if (c->query.events_pid < 0) {  // another user's ops withheld
      mine.assign(tap_.begin(), tap_.end());
      pid_t last = -1;
      bool sees = false;
      for (proto::EventRecord& e : mine) {
        if (e.pid != last) sees = SeesOps(*c, last = e.pid);
        if (!sees) e.op = 0;
      }
      AppendEvents(*c, mine.data(), mine.size());
      continue;
    }
    mine.clear();
    // A stream that follows one pid was checked when it began; a pid another user's process
    // took since gets it nothing, and one whose owner is not known yet no ops.
    if (Foreign(*c, c->query.events_pid)) continue;
    const bool sees = SeesOps(*c, c->query.events_pid);
    for (const proto::EventRecord& e : tap_)
      if (e.pid == c->query.events_pid) {
        mine.push_back(e);
        if (!sees) mine.back().op = 0;
      }
    if (!mine.empty()) AppendEvents(*c, mine.data(), mine.size());
  }
  tap_.clear();
}

void EventStream::AppendEvents(Connection& c, const proto::EventRecord* recs, size_t n) {
  if (c.doomed) return;
  // The peer does not keep up (or its uid holds too much unsent): count, go on.
  const uint64_t frames = (n + kEventsPerFrame - 1) / kEventsPerFrame;
  if (!conns_.Room(c, n * sizeof(proto::EventRecord) + frames * sizeof(proto::FrameHeader))) {
    c.query.events_lost += n;
    return;
  }
  TellLost(c);
  for (size_t i = 0; i < n; i += kEventsPerFrame) {
    const size_t k = std::min(kEventsPerFrame, n - i);
    c.out.AppendFrame(proto::FrameType::kEvents, recs + i, k * sizeof(proto::EventRecord));
  }
  conns_.Account(c);
  conns_.Flush(c);
}

bool EventStream::AppendNotice(Connection& c, const std::string& text, bool essential) {
  if (c.doomed) return false;
  // A notice is bounded like events: past the allowance it is dropped and counted. Essential
  // ones (what was lost, the end of a flush) may use a small reserve above it.
  const uint64_t add = text.size() + sizeof(proto::FrameHeader);
  if (!conns_.Room(c, add) && !(essential && conns_.Room(c, add, Connections::kEssentialReserve))) {
    if (!essential) ++c.query.notices_lost;
    return false;
  }
  c.out.AppendFrame(proto::FrameType::kQueryReply, text.data(), text.size());
  conns_.Account(c);
  return true;
}

void EventStream::TellLost(Connection& c) {
  QueryPart& q = c.query;
  if (!q.HasUntoldLosses()) return;
  const std::string text = model::ToJsonText(model::LostNotice{
      q.events_lost - q.events_lost_told, q.events_lost, q.notices_lost, base::RealtimeNs()});
  if (AppendNotice(c, text, /*essential=*/true)) {
    q.events_lost_told = q.events_lost;
    q.notices_lost_told = q.notices_lost;
  }
}

void EventStream::Notice(const model::Notice& notice, pid_t pid, bool ops) {
  Flush();  // the events before it go first
  const std::string text = model::ToJsonText(notice);
  for (const auto& [id, c] : conns_.all()) {
    const QueryPart& q = c->query;
    if (!q.events || c->doomed || !(pid < 0 || q.events_pid < 0 || q.events_pid == pid)) continue;
    if (ops && !SeesOps(*c, pid)) continue;
    if (q.events_pid >= 0 && pid >= 0 && Foreign(*c, pid)) continue;
    TellLost(*c);
    if (AppendNotice(*c, text)) conns_.Flush(*c);  // dooms, never closes: the table stays
  }
}

void EventStream::LiveSet(const ledger::Ledger& ledger, pid_t pid, proto::EventKind kind) {
  auto p = ledger.processes().find(pid);
  if (p == ledger.processes().end()) return;
  const uint64_t now = base::RealtimeNs();
  for (const ledger::LiveEntry& e : p->second.live) {
    if (tap_.size() >= kEventsPerFrame) Flush();  // a frame at a time, not the whole set
    tap_.push_back(LiveRecord(pid, e, kind, now));
  }
  Flush();
}

void EventStream::Subscribe(Connection& c, pid_t pid, const ledger::Ledger& ledger,
                            const std::map<pid_t, ProcessMeta>& meta) {
  if (c.query.events) {
    conns_.Reply(c, proto::FrameType::kQueryReply,
                 R"({"error": "this connection already receives events"})");
    return;
  }
  // Each stream may hold up to kMaxOutPerConn unread bytes: a user gets a few.
  uint32_t same_uid = 0;
  for (const auto& [id, other] : conns_.all())
    same_uid += other->query.events && other->cred.uid == c.cred.uid ? 1 : 0;
  if (same_uid >= kMaxStreamsPerUid) {
    conns_.Reply(c, proto::FrameType::kQueryReply,
                 nlohmann::json{{"error", fmt::format("uid {} already has {} event streams (the "
                                                      "limit): stop a running `ttmem record` first",
                                                      c.cred.uid, same_uid)}}
                     .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    return;
  }
  c.query.events = true;
  c.query.events_pid = pid;
  ++subscribers_;
  const uint64_t now = base::RealtimeNs();
  AppendNotice(c, model::ToJsonText(model::StartNotice{now, ::getpid(), proto::kProtocolVersion,
                                                       static_cast<int64_t>(pid)}));
  for (const auto& [id, dev] : ledger.devices())
    if (dev.info) AppendNotice(c, model::ToJsonText(DeviceNoticeOf(id, *dev.info)));
  for (const auto& [p, m] : meta) {
    if (pid >= 0 && p != pid) continue;
    auto proc = ledger.processes().find(p);
    if (proc == ledger.processes().end()) continue;
    AppendNotice(c, model::ToJsonText(ProcessStartNoticeOf(p, m, now, /*existing=*/true)));
    const bool sees = SeesOps(c, p);
    for (size_t i = 0; sees && i < m.op_names.size(); ++i)
      if (!m.op_names[i].empty())
        AppendNotice(c, model::ToJsonText(model::OpNameNotice{p, i + 1, m.op_names[i]}));
    // The live set a frame at a time: what does not fit the allowance is lost and counted.
    std::vector<proto::EventRecord> live;
    live.reserve(std::min(proc->second.live.size(), kEventsPerFrame));
    for (const ledger::LiveEntry& e : proc->second.live) {
      live.push_back(LiveRecord(p, e, proto::EventKind::kLive, now));
      if (!sees) live.back().op = 0;
      if (live.size() == kEventsPerFrame) {
        AppendEvents(c, live.data(), live.size());
        live.clear();
      }
    }
    if (!live.empty()) AppendEvents(c, live.data(), live.size());
  }
  conns_.Flush(c);
}

void EventStream::Flushed(Connection& c) {
  if (!c.query.events) {
    conns_.Reply(c, proto::FrameType::kQueryReply,
                 nlohmann::json{{"error",
                                 "events_flush needs an event stream on this connection "
                                 "(send {\"cmd\": \"events\"} first)"}}
                     .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    return;
  }
  TellLost(c);
  if (!AppendNotice(c,
                    model::ToJsonText(model::FlushedNotice{
                        c.query.events_lost, c.query.notices_lost, base::RealtimeNs()}),
                    /*essential=*/true)) {
    conns_.CountError();
    conns_.Doom(c, "it asks for flushes without reading them");
    return;
  }
  conns_.Flush(c);
}

void EventStream::Unsubscribe(Connection& c) {
  if (!c.query.events) return;
  c.query.events = false;
  --subscribers_;
}

}  // namespace ttmem::daemon
