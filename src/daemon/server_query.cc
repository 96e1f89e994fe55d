// The query side of the server: JSON requests from `ttmem` and scripts, and the buffered,
// non-blocking replies (a slow reader never stalls the event loop).
#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "daemon/fragmentation.h"
#include "daemon/server.h"
#include "protocol/mem_types.h"

namespace ttmem::daemon {
namespace {

uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

constexpr size_t kEventsPerFrame = 16384;  // 768 KiB frames
constexpr uint32_t kMaxEventStreamsPerUid = 8;

}  // namespace

uint64_t RealtimeNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void Server::ArmTap() {
  if (event_subscribers_ != 0)
    Session::SetTap(&tap_, RealtimeNs());
  else
    Session::SetTap(nullptr, 0);
}

nlohmann::json DeviceNotice(uint32_t device, const ledger::DeviceInfo& info) {
  nlohmann::json n = {{"event", "device"},
                      {"device", device},
                      {"arch", info.arch},
                      {"unique_id", info.unique_id},
                      {"num_cores", info.num_cores}};
  for (int t = 0; t < ledger::kNumTypes; ++t) {
    const std::string key(proto::kMemTypeKeys[t]);
    n["capacity_bytes"][key] = info.capacity_bytes[t];
    n["bank_count"][key] = info.bank_count[t];
    n["bank_base"][key] = info.bank_base[t];
  }
  return n;
}

void Server::FlushTap() {
  if (tap_.empty()) return;
  std::vector<proto::EventRecord> mine;
  // AppendEvents never closes a connection (a failed send dooms it), so conns_ stays as it is.
  for (auto& [id, c] : conns_) {
    if (!c->events || c->doomed) continue;
    if (c->events_pid < 0) {
      AppendEvents(*c, tap_.data(), tap_.size());
      continue;
    }
    mine.clear();
    for (const proto::EventRecord& e : tap_)
      if (e.pid == c->events_pid) mine.push_back(e);
    if (!mine.empty()) AppendEvents(*c, mine.data(), mine.size());
  }
  tap_.clear();
}

bool Server::OutRoom(const Conn& c, uint64_t add, uint64_t reserve) const {
  auto u = out_by_uid_.find(c.cred.uid);
  const uint64_t uid_bytes = u == out_by_uid_.end() ? 0 : u->second;
  // The uid's figure already holds this connection's.
  return c.out.size() + add <= kMaxOutPerConn + reserve &&
         uid_bytes + add <= kMaxOutPerUid + reserve;
}

void Server::AccountOut(Conn& c) {
  const uint64_t now = c.out.size();
  if (now == c.out_accounted) return;
  uint64_t& uid_bytes = out_by_uid_[c.cred.uid];
  uid_bytes = uid_bytes - c.out_accounted + now;
  c.out_accounted = now;
  if (uid_bytes == 0) out_by_uid_.erase(c.cred.uid);
}

void Server::AppendEvents(Conn& c, const proto::EventRecord* recs, size_t n) {
  if (c.doomed) return;
  // The peer does not keep up (or its uid holds too much unsent): count, go on.
  const uint64_t frames = (n + kEventsPerFrame - 1) / kEventsPerFrame;
  if (!OutRoom(c, n * sizeof(proto::EventRecord) + frames * sizeof(proto::FrameHeader))) {
    c.events_lost += n;
    return;
  }
  TellLost(c);
  for (size_t i = 0; i < n; i += kEventsPerFrame) {
    const size_t k = std::min(kEventsPerFrame, n - i);
    const size_t at = c.out.size();
    c.out.append(sizeof(proto::FrameHeader), '\0');
    c.out.append(reinterpret_cast<const char*>(recs + i), k * sizeof(proto::EventRecord));
    proto::FrameHeader h{proto::kFrameMagic, proto::kWireVersion,
                         static_cast<uint16_t>(proto::FrameType::kEvents),
                         static_cast<uint32_t>(k * sizeof(proto::EventRecord)), 0};
    std::memcpy(c.out.data() + at, &h, sizeof(h));
  }
  AccountOut(c);
  OnConnWritable(c);
}

std::string Server::LostNotice(const Conn& c) const {
  return nlohmann::json{{"event", "lost"},
                        {"count", c.events_lost - c.events_lost_told},
                        {"total", c.events_lost},
                        {"notices_total", c.notices_lost},
                        {"time_ns", RealtimeNs()}}
      .dump();
}

bool Server::AppendNotice(Conn& c, const std::string& text, bool essential) {
  if (c.doomed) return false;
  // A notice is bounded like events: past the allowance it is dropped and counted. Essential
  // ones (what was lost, the end of a flush) may use a small reserve above it.
  const uint64_t add = text.size() + sizeof(proto::FrameHeader);
  if (!OutRoom(c, add) && !(essential && OutRoom(c, add, kEssentialReserve))) {
    if (!essential) ++c.notices_lost;
    return false;
  }
  const size_t at = c.out.size();
  c.out.append(sizeof(proto::FrameHeader), '\0');
  c.out.append(text);
  proto::FrameHeader h{proto::kFrameMagic, proto::kWireVersion,
                       static_cast<uint16_t>(proto::FrameType::kQueryReply),
                       static_cast<uint32_t>(text.size()), 0};
  std::memcpy(c.out.data() + at, &h, sizeof(h));
  AccountOut(c);
  return true;
}

void Server::Notice(const nlohmann::json& notice, pid_t pid) {
  FlushTap();  // the events before it go first
  const std::string text = notice.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  for (auto& [id, c] : conns_) {
    if (!c->events || c->doomed || !(pid < 0 || c->events_pid < 0 || c->events_pid == pid))
      continue;
    TellLost(*c);
    if (AppendNotice(*c, text)) OnConnWritable(*c);  // dooms, never closes: conns_ stays
  }
}

void Server::TapLiveSet(pid_t pid, proto::EventKind kind) {
  auto p = ledger_.processes().find(pid);
  if (p == ledger_.processes().end()) return;
  const uint64_t now = RealtimeNs();
  for (const ledger::LiveEntry& e : p->second.live) {
    if (tap_.size() >= kEventsPerFrame) FlushTap();  // a frame at a time, not the whole set
    proto::EventRecord r{};
    r.time_ns = now;
    r.pid = pid;
    r.device = e.device;
    r.type = e.type;
    r.kind = static_cast<uint8_t>(kind);
    r.flags = e.hooked ? proto::kEventFlagHooked : 0;
    r.buffer_id = e.id;
    r.address = e.address;
    r.size = e.size;
    tap_.push_back(r);
  }
}

void Server::StartEvents(Conn& c, pid_t pid) {
  DrainAll();  // what was published before the subscription is in the snapshot, not the stream
  c.events = true;
  c.events_pid = pid;
  ++event_subscribers_;
  const uint64_t now = RealtimeNs();
  AppendNotice(c, nlohmann::json{{"event", "start"},
                                 {"time_ns", now},
                                 {"daemon_pid", ::getpid()},
                                 {"protocol_version", proto::kProtocolVersion},
                                 {"pid_filter", pid}}
                      .dump());
  for (const auto& [id, dev] : ledger_.devices())
    if (dev.info)
      AppendNotice(c, DeviceNotice(id, *dev.info)
                          .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  for (const auto& [p, meta] : meta_) {
    if (pid >= 0 && p != pid) continue;
    auto proc = ledger_.processes().find(p);
    if (proc == ledger_.processes().end()) continue;
    AppendNotice(c, nlohmann::json{{"event", "process_start"},
                                   {"pid", p},
                                   {"time_ns", now},
                                   {"existing", true},
                                   {"name", meta.name},
                                   {"cmdline", meta.cmdline},
                                   {"uid", meta.uid},
                                   {"user", meta.user},
                                   {"started_unix_ms", meta.started_unix_ms}}
                        .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    // The live set a frame at a time: what does not fit the allowance is lost and counted.
    std::vector<proto::EventRecord> live;
    live.reserve(std::min(proc->second.live.size(), kEventsPerFrame));
    for (const ledger::LiveEntry& e : proc->second.live) {
      proto::EventRecord r{};
      r.time_ns = now;
      r.pid = p;
      r.device = e.device;
      r.type = e.type;
      r.kind = static_cast<uint8_t>(proto::EventKind::kLive);
      r.flags = e.hooked ? proto::kEventFlagHooked : 0;
      r.buffer_id = e.id;
      r.address = e.address;
      r.size = e.size;
      live.push_back(r);
      if (live.size() == kEventsPerFrame) {
        AppendEvents(c, live.data(), live.size());
        live.clear();
      }
    }
    if (!live.empty()) AppendEvents(c, live.data(), live.size());
  }
  OnConnWritable(c);
}

void Server::HandleQuery(Conn& c, const base::Frame& f) {
  nlohmann::json req = nlohmann::json::parse(f.payload.begin(), f.payload.end(), nullptr,
                                             /*allow_exceptions=*/false);
  std::string cmd = req.is_object() && req.contains("cmd") && req["cmd"].is_string()
                        ? req["cmd"].get<std::string>()
                        : "";
  // Every numeric field any request takes, checked here once: present means an integer in its
  // range, never silently ignored or truncated. The handlers below may then read them as is.
  static constexpr struct {
    const char* key;
    int64_t lo, hi;
  } kNumeric[] = {{"pid", 1, INT32_MAX},
                  {"device", 0, proto::kMaxDevices - 1},
                  {"limit", 0, UINT32_MAX},
                  {"cells", 0, UINT32_MAX},
                  {"interval_ms", 0, UINT32_MAX}};
  if (req.is_object()) {
    for (const auto& field : kNumeric) {
      auto it = req.find(field.key);
      if (it == req.end()) continue;
      const bool ok = (it->is_number_unsigned() && it->get<uint64_t>() <= uint64_t(field.hi) &&
                       it->get<uint64_t>() >= uint64_t(field.lo)) ||
                      (it->is_number_integer() && !it->is_number_unsigned() &&
                       it->get<int64_t>() >= field.lo && it->get<int64_t>() <= field.hi);
      if (!ok) {
        Reply(c, proto::FrameType::kQueryReply,
              nlohmann::json{{"error", fmt::format("\"{}\" must be an integer from {} to {}",
                                                   field.key, field.lo, field.hi)}}
                  .dump());
        return;
      }
    }
  }
  if (cmd == "status") {
    // What clients published before the query is visible in its answer, unless the caller asks
    // for what the daemon has applied so far ("drain": false; used to measure the drain latency).
    if (!(req.contains("drain") && req["drain"] == false)) DrainAll();
    ScanShm(/*force=*/true);  // a status answer shows tt-metal's regions as they are now
    SendStatus(c);
    return;
  }
  if (cmd == "subscribe") {
    // {"cmd": "subscribe", "interval_ms": N}: a status document now, then whenever something
    // changed, at most every N ms (50..60000, default 1000), until the connection closes.
    uint64_t ms = 1000;
    if (req.contains("interval_ms") && req["interval_ms"].is_number_unsigned())
      ms = req["interval_ms"].get<uint64_t>();
    c.subscribe_ms = static_cast<uint32_t>(std::clamp<uint64_t>(ms, 50, 60000));
    DrainAll();
    SendStatus(c);
    return;
  }
  if (cmd == "buffers") {
    // {"cmd": "buffers", "pid": P, ["limit": N]}: the process's largest live buffers (N <= 1000,
    // default 20), largest first, and how many it holds in all.
    nlohmann::json list = nlohmann::json::array();
    size_t total = 0;
    if (req.contains("pid") && req["pid"].is_number_integer()) {
      size_t limit = 20;
      if (req.contains("limit") && req["limit"].is_number_unsigned())
        limit = std::min<size_t>(req["limit"].get<size_t>(), 1000);
      auto p = ledger_.processes().find(req["pid"].get<pid_t>());
      if (p != ledger_.processes().end()) {
        std::vector<const ledger::LiveEntry*> all;
        all.reserve(p->second.live.size());
        for (const ledger::LiveEntry& e : p->second.live) all.push_back(&e);
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
                          {"size", e.size},
                          {"capture", e.hooked != 0}});
        }
      }
    }
    Reply(c, proto::FrameType::kQueryReply,
          nlohmann::json{{"buffers", std::move(list)}, {"live_buffers", total}}.dump());
    return;
  }
  if (cmd == "fragmentation") {
    // {"cmd": "fragmentation", ["device": N], ["cells": W]}: per device and type with known bank
    // geometry, the free space of one bank, its largest free block and a strip of W cells.
    uint32_t cells = 64;
    if (req.contains("cells") && req["cells"].is_number_unsigned())
      cells = static_cast<uint32_t>(std::min<uint64_t>(req["cells"].get<uint64_t>(), 1000));
    std::optional<uint32_t> only;
    if (req.contains("device")) only = req["device"].get<uint32_t>();
    nlohmann::json devices = nlohmann::json::array();
    for (const auto& [id, frag] : Fragmentation(cells)) {
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
    Reply(c, proto::FrameType::kQueryReply, nlohmann::json{{"devices", std::move(devices)}}.dump());
    return;
  }
  if (cmd == "events") {
    // {"cmd": "events", ["pid": P]}: the event stream (docs/protocol.md) until the peer closes.
    pid_t pid = -1;
    if (req.contains("pid") && req["pid"].is_number_integer()) pid = req["pid"].get<pid_t>();
    if (c.events) {
      Reply(c, proto::FrameType::kQueryReply,
            R"({"error": "this connection already receives events"})");
      return;
    }
    // Each stream may hold up to kMaxOutPerConn unread bytes: a user gets a few.
    uint32_t same_uid = 0;
    for (const auto& [id, other] : conns_)
      same_uid += other->events && other->cred.uid == c.cred.uid ? 1 : 0;
    if (same_uid >= kMaxEventStreamsPerUid) {
      Reply(c, proto::FrameType::kQueryReply,
            nlohmann::json{{"error", fmt::format("uid {} already has {} event streams (the limit): "
                                                 "stop a running `ttmem record` first",
                                                 c.cred.uid, same_uid)}}
                .dump());
      return;
    }
    StartEvents(c, pid);
    return;
  }
  if (cmd == "events_flush") {
    // On an event stream: apply what clients published, then a "flushed" notice after every
    // event queued for this peer, with what it lost in all. `ttmem record` ends with it.
    if (!c.events) {
      Reply(c, proto::FrameType::kQueryReply,
            nlohmann::json{{"error",
                            "events_flush needs an event stream on this connection "
                            "(send {\"cmd\": \"events\"} first)"}}
                .dump());
      return;
    }
    DrainAll();
    TellLost(c);
    if (!AppendNotice(c,
                      nlohmann::json{{"event", "flushed"},
                                     {"lost_total", c.events_lost},
                                     {"notices_lost_total", c.notices_lost},
                                     {"time_ns", RealtimeNs()}}
                          .dump(),
                      /*essential=*/true)) {
      ++disconnected_for_errors_;
      Doom(c, "it asks for flushes without reading them");
      return;
    }
    OnConnWritable(c);
    return;
  }
  if (cmd == "history") {
    // {"cmd": "history", ["device": N], ["pid": P]}: the samples the daemon keeps.
    std::optional<uint32_t> device;
    std::optional<pid_t> pid;
    if (req.contains("device") && req["device"].is_number_unsigned())
      device = req["device"].get<uint32_t>();
    if (req.contains("pid") && req["pid"].is_number_integer()) pid = req["pid"].get<pid_t>();
    Reply(c, proto::FrameType::kQueryReply, history_.ToJson(device, pid).dump());
    return;
  }
  std::string reply;
  if (cmd == "ping") {
    reply = nlohmann::json{{"ok", true}, {"protocol_version", proto::kProtocolVersion}}.dump();
  } else {
    reply = nlohmann::json{{"error",
                            req.is_discarded()
                                ? "request is not valid JSON"
                                : "unknown cmd (expected \"status\", \"subscribe\", \"events\", "
                                  "\"history\", \"buffers\", \"fragmentation\" or \"ping\")"}}
                .dump();
  }
  Reply(c, proto::FrameType::kQueryReply, reply);
}

DaemonMeta Server::Meta() const {
  DaemonMeta dm;
  dm.pid = ::getpid();
  dm.socket = options_.socket_path;
  dm.uptime_ms = UptimeMs();
  dm.events_applied = events_applied_;
  dm.clients_disconnected_for_errors = disconnected_for_errors_;
  dm.device_info_conflicts = device_info_conflicts_;
  dm.coverage_anomalies = coverage_.anomalies();
  return dm;
}

void Server::UpdateMetrics() {
  const uint64_t now = MonotonicNs();
  if (metrics_built_ns_ != 0 && now < metrics_built_ns_ + 1000000000ull) return;
  metrics_built_ns_ = now;
  ScanShm(false);
  std::string doc;
  BuildStatus(ledger_, meta_, Meta(), &doc, &status_cache_, &shm_, options_.driver_dir);
  nlohmann::json status = nlohmann::json::parse(doc, nullptr, false);
  std::map<std::pair<uint32_t, std::string>, uint64_t> largest;
  for (const auto& [id, frag] : Fragmentation(0))
    for (const TypeFragmentation& tf : frag)
      largest[{id, std::string(proto::kMemTypeKeys[tf.type])}] = tf.largest_free_block;
  metrics_->Update(status, largest);
}

const std::map<uint32_t, std::vector<TypeFragmentation>>& Server::Fragmentation(uint32_t cells) {
  // 0: any strip width will do (the metrics use only the largest free block).
  if (frag_version_ == ledger_.version() && (cells == 0 || cells == frag_cells_)) return frag_;
  frag_cells_ = cells == 0 ? 1 : cells;
  frag_ = ComputeFragmentationAll(ledger_, frag_cells_);
  frag_version_ = ledger_.version();
  return frag_;
}

void Server::SendStatus(Conn& c) {
  const DaemonMeta dm = Meta();
  // Written straight into the connection's output buffer (kept between replies).
  if (!BeginReply(c)) return;
  const size_t at = c.out.size();
  c.out.append(sizeof(proto::FrameHeader), '\0');
  ScanShm(false);
  BuildStatus(ledger_, meta_, dm, &c.out, &status_cache_, &shm_, options_.driver_dir);
  c.pushed_ns = MonotonicNs();
  c.pushed_ledger = ledger_.version();
  c.pushed_meta = meta_version_;
  c.pushed_shm = shm_version_;
  EndReply(c, at, proto::FrameType::kQueryReply);
}

void Server::ScanShm(bool force) {
  if (options_.shm_dir.empty()) return;
  const uint64_t now = MonotonicNs();
  if (!force && shm_scanned_ns_ != 0 && now < shm_scanned_ns_ + 1000000000ull) return;
  shm_scanned_ns_ = now;
  std::vector<std::string> problems;  // unusable regions are simply not shown
  shm_ = ttshm::Discover(options_.shm_dir, &problems);
  std::string digest;
  for (ttshm::Region& r : shm_) {
    ttshm::CheckLiveness(&r);
    digest += fmt::format("{}:{}:{}:{}:{}:{}:{};", r.path, r.asic_id, r.device_id, r.totals[0],
                          r.totals[1], r.totals[2], r.processes.size());
    for (const ttshm::Process& p : r.processes)
      digest += fmt::format("{}/{}/{}/{}/{},", p.pid, p.alive, p.used[0], p.used[1], p.used[4]);
  }
  CheckCoverage();
  if (!coverage_.anomalies().empty())  // their figures and durations change with each scan
    digest += fmt::format("coverage:{};", coverage_.anomalies().size());
  if (digest != shm_digest_) {
    shm_digest_ = std::move(digest);
    ++shm_version_;
  }
}

void Server::CheckCoverage() {
  // tt-metal's slot figures are DRAM, L1, L1_SMALL, TRACE, CB; ttmem's types 0, 1, 3, 4.
  static constexpr int kTtmemType[] = {0, 1, 3, 4};
  std::vector<CoverageSample> samples;
  for (const ttshm::Region& r : shm_) {
    const std::optional<uint32_t> device = NativeDeviceOfChip(ledger_, r.chip_id);
    if (!device) continue;
    for (const ttshm::Process& p : r.processes) {
      auto native = ledger_.processes().find(p.pid);
      // Only a slot the live process itself maps: anyone can write a region naming any pid.
      if (!p.alive || !p.verified || native == ledger_.processes().end()) continue;
      auto usage = native->second.usage.find(*device);
      for (int t = 0; t < 4; ++t)
        samples.push_back({p.pid, *device, kTtmemType[t],
                           usage != native->second.usage.end()
                               ? usage->second[static_cast<size_t>(kTtmemType[t])].bytes
                               : 0,
                           p.used[static_cast<size_t>(t)]});
    }
  }
  coverage_.Update(samples, MonotonicNs(),
                   static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count()));
}

bool Server::HasSubscribers() const {
  for (const auto& [id, c] : conns_)
    if (c->subscribe_ms != 0) return true;
  return false;
}

void Server::PushSubscriptions() {
  uint64_t now = 0;
  std::vector<uint64_t> due;
  for (const auto& [id, c] : conns_) {
    if (c->subscribe_ms == 0) continue;
    if (c->pushed_ledger == ledger_.version() && c->pushed_meta == meta_version_ &&
        c->pushed_shm == shm_version_)
      continue;
    if (now == 0) now = MonotonicNs();
    // A peer still reading the previous document gets the next one after it.
    if (now >= c->pushed_ns + uint64_t{c->subscribe_ms} * 1000000 && c->out_off >= c->out.size())
      due.push_back(id);
  }
  for (uint64_t id : due) {
    auto it = conns_.find(id);
    if (it != conns_.end()) SendStatus(*it->second);
  }
}

bool Server::BeginReply(Conn& c) {
  if (c.doomed) return false;
  // A peer that has read everything always gets its answer; one that still has unsent bytes
  // while it or its uid is over the allowance never reads: stop buffering for it.
  if (!c.out.empty() && !OutRoom(c, 0)) {
    ++disconnected_for_errors_;
    Doom(c, fmt::format("its unsent replies exceed the limit ({} MiB per connection, {} MiB per "
                        "uid)",
                        kMaxOutPerConn >> 20, kMaxOutPerUid >> 20));
    return false;
  }
  return true;
}

void Server::EndReply(Conn& c, size_t at, proto::FrameType type) {
  proto::FrameHeader h{proto::kFrameMagic, proto::kWireVersion, static_cast<uint16_t>(type),
                       static_cast<uint32_t>(c.out.size() - at - sizeof(proto::FrameHeader)), 0};
  std::memcpy(c.out.data() + at, &h, sizeof(h));
  AccountOut(c);
  OnConnWritable(c);
  // What the socket did not take counts; past the allowance it is dropped with the peer (so a
  // uid holds at most its allowance plus the reply being built).
  if (!c.doomed && !c.out.empty() && !OutRoom(c, 0)) {
    ++disconnected_for_errors_;
    Doom(c, fmt::format("its unsent replies exceed the limit ({} MiB per connection, {} MiB per "
                        "uid)",
                        kMaxOutPerConn >> 20, kMaxOutPerUid >> 20));
  }
}

void Server::Reply(Conn& c, proto::FrameType type, const std::string& payload) {
  if (!BeginReply(c)) return;
  const size_t at = c.out.size();
  c.out.append(sizeof(proto::FrameHeader), '\0');
  c.out.append(payload);
  EndReply(c, at, type);
}

void Server::TellLost(Conn& c) {
  if (c.events_lost == c.events_lost_told && c.notices_lost == c.notices_lost_told) return;
  const std::string text = LostNotice(c);
  if (AppendNotice(c, text, /*essential=*/true)) {
    c.events_lost_told = c.events_lost;
    c.notices_lost_told = c.notices_lost;
  }
}

void Server::WantWritable(Conn& c, bool want) {
  if (c.want_out == want) return;
  c.want_out = want;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | (want ? uint32_t{EPOLLOUT} : 0u);
  ev.data.u64 = Token(kConn, c.id);
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev) != 0)
    Doom(c, fmt::format("epoll_ctl: {}", std::strerror(errno)));
}

void Server::OnConnWritable(Conn& c) {
  // Never closes: a failed send dooms the connection (closed by the loop between events), so a
  // caller iterating conns_ or holding `c` stays valid.
  if (c.doomed) return;
  for (;;) {
    while (c.out_off < c.out.size()) {
      ssize_t n = ::send(c.fd.get(), c.out.data() + c.out_off, c.out.size() - c.out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          // Sent bytes are dropped once they are most of the buffer.
          if (c.out_off >= (1u << 20) && c.out_off * 2 >= c.out.size()) {
            c.out.erase(0, c.out_off);
            c.out_off = 0;
            AccountOut(c);
          }
          WantWritable(c, true);
          return;
        }
        Doom(c, "");
        return;
      }
      c.out_off += static_cast<size_t>(n);
    }
    c.out.clear();
    c.out_off = 0;
    if (c.out.capacity() > (1u << 20)) std::string().swap(c.out);  // an idle peer holds little
    AccountOut(c);
    // A subscriber that fell behind has caught up: tell it what it missed, now.
    if (!c.events || (c.events_lost == c.events_lost_told && c.notices_lost == c.notices_lost_told))
      break;
    TellLost(c);
    if (c.out.empty()) break;
  }
  WantWritable(c, false);
}

}  // namespace ttmem::daemon
