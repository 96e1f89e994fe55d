// ttmem report: peaks, buffers live at each peak, leaks and processes of a recording.
#include "cli/report.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/recording.h"
#include "protocol/mem_types.h"
#include "protocol/wire.h"

namespace ttmem::cli {
namespace {

constexpr int kTypes = static_cast<int>(proto::kNumMemTypes);

struct ProcInfo {
  int64_t row = 0;
  int64_t pid = 0;
  std::string name, user, cmdline;
  int64_t first_seen_ns = 0;
  std::optional<int64_t> ended_ns;
  int64_t reclaimed_bytes = 0;
  bool existing = false;
  uint64_t events = 0, allocs = 0, frees = 0, capture_allocs = 0, leaked = 0, leaked_bytes = 0;
  std::map<std::pair<uint32_t, int>, uint64_t> peak;  // (device, type) -> peak bytes
};

struct Live {
  int type;
  uint64_t address, size;
  int64_t allocated_ns;
  bool hooked;
};

struct BufKey {
  int64_t proc;
  uint32_t device;
  uint64_t id;
  bool operator==(const BufKey&) const = default;
};
struct BufKeyHash {
  size_t operator()(const BufKey& k) const {
    return std::hash<uint64_t>()(k.id * 1000003u ^ static_cast<uint64_t>(k.proc) * 131u ^ k.device);
  }
};

struct Bucket {
  uint64_t max = 0;
  std::map<int64_t, uint64_t> procs;  // per-process bytes at the moment of the max
};
struct DeviceBucket {
  uint64_t max = 0;
  std::array<uint64_t, kTypes> types{};
};

struct TypeState {
  uint64_t cur = 0, peak = 0;
  int64_t peak_seq = -1, peak_ns = 0;
  std::map<int64_t, uint64_t> procs;  // current, per process row
  std::vector<Bucket> buckets;
  int last_bucket = -1;
  bool seen = false;
};
struct DeviceState {
  std::array<TypeState, kTypes> types;
  std::vector<DeviceBucket> buckets;
  int last_bucket = -1;
  std::array<uint64_t, kTypes> cur{};
};

std::string TypeName(int t) {
  return t >= 0 && t < kTypes ? std::string(proto::kMemTypeKeys[static_cast<size_t>(t)]) : "?";
}

}  // namespace

bool AnalyzeRecording(const std::string& path, uint32_t top, uint32_t buckets_n,
                      nlohmann::json* out, std::string* error) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    *error = fmt::format("{} does not exist (write one with: ttmem record -o {})", path, path);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {  // a FIFO or a device would block or never end
    *error = fmt::format(
        "{} is not a regular file (a recording is an SQLite file written by "
        "ttmem record -o FILE)",
        path);
    return false;
  }
  Db db;
  if (!db.Open(path, SQLITE_OPEN_READONLY, error)) return false;
  std::map<std::string, std::string> meta;
  {
    Stmt s(db, "SELECT key, value FROM meta");
    if (!s.ok()) {
      *error = fmt::format("{} is not a ttmem recording (no meta table: {})", path, db.Message());
      return false;
    }
    while (s.Step() == SQLITE_ROW) meta[s.Text(0)] = s.Text(1);
  }
  if (meta["schema_version"] != std::to_string(kRecordingSchemaVersion)) {
    *error = fmt::format("{} has recording schema '{}'; this ttmem reads schema {}", path,
                         meta["schema_version"], kRecordingSchemaVersion);
    return false;
  }
  auto meta_i64 = [&](const char* k) -> int64_t {
    try {
      return meta.count(k) ? std::stoll(meta[k]) : 0;
    } catch (...) {
      return 0;
    }
  };

  // Devices and capacities.
  struct DevInfo {
    std::string arch;
    int64_t unique_id = 0;
    std::array<uint64_t, kTypes> capacity{}, bank_base{};
    std::array<uint32_t, kTypes> bank_count{};
  };
  std::map<uint32_t, DevInfo> devinfo;
  {
    Stmt s(db, "SELECT id, arch, unique_id FROM devices");
    while (s.ok() && s.Step() == SQLITE_ROW) {
      DevInfo& d = devinfo[static_cast<uint32_t>(s.Int(0))];
      d.arch = s.Text(1);
      d.unique_id = s.Int(2);
    }
    Stmt c(db, "SELECT device, type, capacity_bytes, bank_count, bank_base FROM capacities");
    while (c.ok() && c.Step() == SQLITE_ROW) {
      const int t = static_cast<int>(c.Int(1));
      if (t < 0 || t >= kTypes) continue;
      DevInfo& d = devinfo[static_cast<uint32_t>(c.Int(0))];
      d.capacity[t] = static_cast<uint64_t>(c.Int(2));
      d.bank_count[t] = static_cast<uint32_t>(c.Int(3));
      d.bank_base[t] = static_cast<uint64_t>(c.Int(4));
    }
  }
  std::map<int64_t, ProcInfo> procs;
  {
    Stmt s(db,
           "SELECT id, pid, name, user, cmdline, first_seen_ns, ended_ns, reclaimed_bytes, "
           "existing FROM processes");
    while (s.ok() && s.Step() == SQLITE_ROW) {
      ProcInfo& p = procs[s.Int(0)];
      p.row = s.Int(0);
      p.pid = s.Int(1);
      p.name = s.Text(2);
      p.user = s.Text(3);
      p.cmdline = s.Text(4);
      p.first_seen_ns = s.Int(5);
      if (!s.IsNull(6)) p.ended_ns = s.Int(6);
      p.reclaimed_bytes = s.Int(7);
      p.existing = s.Int(8) != 0;
    }
  }
  int64_t t0 = meta_i64("started_ns"), t1 = meta_i64("ended_ns");
  {
    Stmt s(db, "SELECT MIN(time_ns), MAX(time_ns), COUNT(*) FROM events");
    if (s.ok() && s.Step() == SQLITE_ROW && s.Int(2) > 0) {
      t0 = t0 == 0 ? s.Int(0) : std::min(t0, s.Int(0));
      t1 = std::max(t1, s.Int(1));
    }
  }
  if (t1 <= t0) t1 = t0 + 1;
  const uint32_t nb = std::max<uint32_t>(buckets_n, 2);
  auto bucket_of = [&](int64_t t) {
    const double f = static_cast<double>(t - t0) / static_cast<double>(t1 - t0);
    return std::clamp(static_cast<int>(f * nb), 0, static_cast<int>(nb) - 1);
  };

  std::map<uint32_t, DeviceState> devs;
  std::unordered_map<BufKey, Live, BufKeyHash> live;
  nlohmann::json leaks = nlohmann::json::array();
  uint64_t leaked_bytes_total = 0, events_total = 0, unknown_frees = 0;

  // One pass over the events, in the order the daemon applied them.
  auto apply = [&](bool first_pass, int64_t time_ns, int64_t proc, uint32_t device, int type,
                   int kind, uint64_t id, uint64_t address, uint64_t size,
                   bool hooked) -> std::optional<std::pair<int, int64_t>> {
    // Returns the (type, delta sign) it changed, for the bookkeeping below.
    const BufKey key{proc, device, id};
    int64_t delta = 0;
    int t = type;
    if (kind == static_cast<int>(proto::EventKind::kAlloc) ||
        kind == static_cast<int>(proto::EventKind::kLive)) {
      if (t < 0 || t >= kTypes) return std::nullopt;
      auto it = live.find(key);
      if (it != live.end()) {  // a duplicate allocation replaces the live one
        if (!it->second.hooked) {
          if (it->second.type == t) {
            delta -= static_cast<int64_t>(it->second.size);
          } else if (first_pass) {
            // Different type: account the old one away through its own type.
            DeviceState& d = devs[device];
            TypeState& ts = d.types[static_cast<size_t>(it->second.type)];
            ts.cur -= it->second.size;
            d.cur[static_cast<size_t>(it->second.type)] -= it->second.size;
            ts.procs[proc] -= it->second.size;
          }
        }
        live.erase(it);
      }
      live[key] = Live{t, address, size, time_ns, hooked};
      if (!hooked) delta += static_cast<int64_t>(size);
      if (first_pass) {
        ProcInfo& p = procs[proc];
        if (kind == static_cast<int>(proto::EventKind::kAlloc)) ++p.allocs;
        if (hooked) ++p.capture_allocs;
      }
    } else {
      auto it = live.find(key);
      if (it == live.end()) {
        if (first_pass) ++unknown_frees;
        return std::nullopt;
      }
      t = it->second.type;
      if (!it->second.hooked) delta = -static_cast<int64_t>(it->second.size);
      if (first_pass) {
        ProcInfo& p = procs[proc];
        if (kind == static_cast<int>(proto::EventKind::kFree)) {
          ++p.frees;
        } else if (!it->second.hooked) {  // reclaim: live when its process ended
          ++p.leaked;
          p.leaked_bytes += it->second.size;
          leaked_bytes_total += it->second.size;
          leaks.push_back({{"pid", p.pid},
                           {"name", p.name},
                           {"device", device},
                           {"type", TypeName(t)},
                           {"id", id},
                           {"address", it->second.address},
                           {"size", it->second.size},
                           {"allocated_ns", it->second.allocated_ns},
                           {"process_ended_ns", time_ns}});
        }
      }
      live.erase(it);
    }
    return std::make_pair(t, delta);
  };

  {
    Stmt s(db,
           "SELECT seq, time_ns, process, device, type, kind, buffer_id, address, size, capture "
           "FROM events ORDER BY seq");
    if (!s.ok()) {
      *error = fmt::format("{}: cannot read events: {}", path, db.Message());
      return false;
    }
    while (s.Step() == SQLITE_ROW) {
      const int64_t seq = s.Int(0), time_ns = s.Int(1), proc = s.Int(2);
      const auto device = static_cast<uint32_t>(s.Int(3));
      const int type = s.IsNull(4) ? -1 : static_cast<int>(s.Int(4));
      const int kind = static_cast<int>(s.Int(5));
      ++events_total;
      ++procs[proc].events;
      auto r =
          apply(true, time_ns, proc, device, type, kind, static_cast<uint64_t>(s.Int(6)),
                static_cast<uint64_t>(s.Int(7)), static_cast<uint64_t>(s.Int(8)), s.Int(9) != 0);
      if (!r) continue;
      const int t = r->first;
      const int64_t delta = r->second;
      DeviceState& d = devs[device];
      if (d.buckets.empty()) d.buckets.resize(nb);
      TypeState& ts = d.types[static_cast<size_t>(t)];
      if (ts.buckets.empty()) ts.buckets.resize(nb);
      const int b = bucket_of(time_ns);
      // Buckets without events carry the state they began with.
      if (ts.last_bucket < b) {
        for (int i = ts.last_bucket + 1; i <= b; ++i) {
          ts.buckets[static_cast<size_t>(i)] = Bucket{ts.cur, ts.procs};
        }
        ts.last_bucket = b;
      }
      if (d.last_bucket < b) {
        uint64_t total = 0;
        for (uint64_t v : d.cur) total += v;
        for (int i = d.last_bucket + 1; i <= b; ++i)
          d.buckets[static_cast<size_t>(i)] = DeviceBucket{total, d.cur};
        d.last_bucket = b;
      }
      ts.seen = true;
      ts.cur = static_cast<uint64_t>(static_cast<int64_t>(ts.cur) + delta);
      d.cur[static_cast<size_t>(t)] = ts.cur;
      uint64_t& pc = ts.procs[proc];
      pc = static_cast<uint64_t>(static_cast<int64_t>(pc) + delta);
      ProcInfo& p = procs[proc];
      uint64_t& ppeak = p.peak[{device, t}];
      ppeak = std::max(ppeak, pc);
      if (ts.cur > ts.peak) {
        ts.peak = ts.cur;
        ts.peak_seq = seq;
        ts.peak_ns = time_ns;
      }
      Bucket& bk = ts.buckets[static_cast<size_t>(b)];
      if (ts.cur > bk.max) {
        bk.max = ts.cur;
        bk.procs = ts.procs;
      }
      uint64_t total = 0;
      for (uint64_t v : d.cur) total += v;
      DeviceBucket& db2 = d.buckets[static_cast<size_t>(b)];
      if (total > db2.max) {
        db2.max = total;
        db2.types = d.cur;
      }
    }
  }
  // Buckets after the last event keep the final state.
  for (auto& [id, d] : devs) {
    uint64_t total = 0;
    for (uint64_t v : d.cur) total += v;
    for (int i = d.last_bucket + 1; i < static_cast<int>(nb); ++i)
      d.buckets[static_cast<size_t>(i)] = DeviceBucket{total, d.cur};
    for (TypeState& ts : d.types) {
      if (!ts.seen) continue;
      for (int i = ts.last_bucket + 1; i < static_cast<int>(nb); ++i)
        ts.buckets[static_cast<size_t>(i)] = Bucket{ts.cur, ts.procs};
    }
  }
  const auto live_at_end = live.size();

  // Second pass: the buffers live at each (device, type)'s peak.
  std::map<int64_t, std::vector<std::pair<uint32_t, int>>> peaks_at;  // seq -> (device, type)
  for (auto& [id, d] : devs)
    for (int t = 0; t < kTypes; ++t)
      if (d.types[static_cast<size_t>(t)].peak_seq >= 0)
        peaks_at[d.types[static_cast<size_t>(t)].peak_seq].push_back({id, t});
  std::map<std::pair<uint32_t, int>, std::vector<nlohmann::json>> at_peak;
  live.clear();
  if (!peaks_at.empty()) {
    Stmt s(db,
           "SELECT seq, time_ns, process, device, type, kind, buffer_id, address, size, capture "
           "FROM events WHERE seq <= ? ORDER BY seq");
    s.Bind(1, peaks_at.rbegin()->first);
    while (s.Step() == SQLITE_ROW) {
      const int64_t seq = s.Int(0);
      apply(false, s.Int(1), s.Int(2), static_cast<uint32_t>(s.Int(3)),
            s.IsNull(4) ? -1 : static_cast<int>(s.Int(4)), static_cast<int>(s.Int(5)),
            static_cast<uint64_t>(s.Int(6)), static_cast<uint64_t>(s.Int(7)),
            static_cast<uint64_t>(s.Int(8)), s.Int(9) != 0);
      auto pk = peaks_at.find(seq);
      if (pk == peaks_at.end()) continue;
      for (auto [device, t] : pk->second) {
        auto& list = at_peak[{device, t}];
        for (const auto& [k, v] : live) {
          if (k.device != device || v.type != t || v.hooked) continue;
          const ProcInfo& p = procs[k.proc];
          list.push_back({{"pid", p.pid},
                          {"name", p.name},
                          {"id", k.id},
                          {"address", v.address},
                          {"size", v.size},
                          {"allocated_ns", v.allocated_ns}});
        }
        std::sort(list.begin(), list.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
          return a["size"].get<uint64_t>() != b["size"].get<uint64_t>()
                     ? a["size"].get<uint64_t>() > b["size"].get<uint64_t>()
                     : a["address"].get<uint64_t>() < b["address"].get<uint64_t>();
        });
      }
    }
  }

  // The document.
  nlohmann::json r;
  r["recording"] = {{"file", path},
                    {"schema_version", kRecordingSchemaVersion},
                    {"host", meta["host"]},
                    {"command", meta["command"]},
                    {"started_ns", t0},
                    {"ended_ns", t1},
                    {"duration_s", static_cast<double>(t1 - t0) / 1e9},
                    {"events", events_total},
                    {"events_lost", meta_i64("events_lost")},
                    {"unknown_frees", unknown_frees},
                    {"live_at_end", live_at_end},
                    // 1 when the recorder stopped cleanly and the daemon confirmed the stream's
                    // end; else the last batch may be missing (a killed recorder).
                    {"complete", meta["complete"] == "1"}};
  if (meta.count("command_status")) r["recording"]["command_status"] = meta_i64("command_status");
  nlohmann::json devices = nlohmann::json::array();
  std::set<uint32_t> ids;
  for (const auto& [id, d] : devs) ids.insert(id);
  for (const auto& [id, d] : devinfo) ids.insert(id);
  for (uint32_t id : ids) {
    const DevInfo& info = devinfo[id];
    DeviceState& d = devs[id];
    if (d.buckets.empty()) d.buckets.resize(nb);
    nlohmann::json types = nlohmann::json::array();
    for (int t = 0; t < kTypes; ++t) {
      const TypeState& ts = d.types[static_cast<size_t>(t)];
      if (!ts.seen) continue;
      const auto& list = at_peak[{id, t}];
      nlohmann::json top_list = nlohmann::json::array();
      uint64_t bytes = 0;
      for (const auto& b : list) bytes += b["size"].get<uint64_t>();
      // The address map keeps every buffer (up to 5000), the listing the largest `top`.
      nlohmann::json map = nlohmann::json::array();
      for (size_t i = 0; i < list.size(); ++i) {
        if (i < top) top_list.push_back(list[i]);
        if (i < 5000) map.push_back({list[i]["pid"], list[i]["address"], list[i]["size"]});
      }
      nlohmann::json timeline = nlohmann::json::array();
      for (const Bucket& b : ts.buckets) {
        nlohmann::json byproc = nlohmann::json::object();
        for (const auto& [proc, v] : b.procs)
          if (v != 0) byproc[std::to_string(procs[proc].pid)] = v;
        timeline.push_back({{"max", b.max}, {"by_pid", std::move(byproc)}});
      }
      nlohmann::json tj = {{"type", TypeName(t)},
                           {"peak_bytes", ts.peak},
                           {"peak_time_ns", ts.peak_ns},
                           {"peak_offset_s", static_cast<double>(ts.peak_ns - t0) / 1e9},
                           {"final_bytes", ts.cur},
                           {"buffers_at_peak", list.size()},
                           {"bytes_at_peak", bytes},
                           {"top_buffers", std::move(top_list)},
                           {"map_at_peak", std::move(map)},
                           {"timeline", std::move(timeline)}};
      if (info.capacity[t] != 0) tj["capacity_bytes"] = info.capacity[t];
      if (info.bank_count[t] != 0) {
        tj["bank_count"] = info.bank_count[t];
        tj["bank_base"] = info.bank_base[t];
      }
      types.push_back(std::move(tj));
    }
    nlohmann::json timeline = nlohmann::json::array();
    for (const DeviceBucket& b : d.buckets) {
      nlohmann::json bt = nlohmann::json::object();
      for (int t = 0; t < kTypes; ++t)
        if (b.types[static_cast<size_t>(t)] != 0) bt[TypeName(t)] = b.types[static_cast<size_t>(t)];
      timeline.push_back(std::move(bt));
    }
    devices.push_back({{"id", id},
                       {"arch", info.arch},
                       {"unique_id", info.unique_id},
                       {"types", std::move(types)},
                       {"timeline_by_type", std::move(timeline)}});
  }
  r["devices"] = std::move(devices);
  r["timeline_buckets"] = nb;
  r["leaks"] = std::move(leaks);
  r["leaked_bytes"] = leaked_bytes_total;
  nlohmann::json plist = nlohmann::json::array();
  for (const auto& [row, p] : procs) {
    nlohmann::json peak = nlohmann::json::object();
    for (const auto& [k, v] : p.peak)
      if (v != 0) peak[std::to_string(k.first)][TypeName(k.second)] = v;
    nlohmann::json pj = {{"pid", p.pid},
                         {"name", p.name},
                         {"user", p.user},
                         {"cmdline", p.cmdline},
                         {"first_seen_ns", p.first_seen_ns},
                         {"existing", p.existing},
                         {"events", p.events},
                         {"allocs", p.allocs},
                         {"frees", p.frees},
                         {"capture_allocs", p.capture_allocs},
                         {"leaked_buffers", p.leaked},
                         {"leaked_bytes", p.leaked_bytes},
                         {"peak_bytes", std::move(peak)}};
    pj["ended_ns"] = p.ended_ns ? nlohmann::json(*p.ended_ns) : nlohmann::json(nullptr);
    plist.push_back(std::move(pj));
  }
  r["processes"] = std::move(plist);
  *out = std::move(r);
  return true;
}

int RunReport(const ReportOptions& o) {
  nlohmann::json report;
  std::string error;
  if (!AnalyzeRecording(o.input, o.top, 400, &report, &error)) {
    PrintError(error);
    return kExitUsage;
  }
  if (!o.html.empty()) {
    const std::string html = RenderReportHtml(report);
    FILE* f = std::fopen(o.html.c_str(), "w");
    if (!f || std::fwrite(html.data(), 1, html.size(), f) != html.size() || std::fclose(f) != 0) {
      PrintError(fmt::format("cannot write {}: {}", o.html, std::strerror(errno)));
      return kExitFailure;
    }
  }
  if (o.json) {
    std::printf("%s\n", report.dump(2).c_str());
  } else {
    std::fputs(RenderReportText(report).c_str(), stdout);
    if (!o.html.empty()) std::printf("\nHTML report: %s\n", o.html.c_str());
  }
  return kExitOk;
}

}  // namespace ttmem::cli
