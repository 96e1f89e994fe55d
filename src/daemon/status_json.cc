// The status reply, written straight into a string. Building it as an nlohmann::json tree first
// cost 85 ms at 32 devices × 256 processes (allocation and std::map nodes; docs/benchmarks.md);
// streaming the same document costs about 1.5 ms, and each process's parts are kept between
// replies until it changes. nlohmann still escapes every string.
#include "daemon/status_json.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <fmt/compile.h>
#include <fmt/format.h>

#include "daemon/json_writer.h"
#include "protocol/mem_types.h"
#include "protocol/shm_abi.h"

namespace ttmem::daemon {
namespace {

// {"dram": {"used_bytes": .., "buffers": .., ["total_bytes": ..|null]}, ...}: the bulk of the
// document (7 types per device and per process on each device), formatted in one buffer.
void WriteUsage(JsonWriter& w, const ledger::TypeUsage& u, const ledger::DeviceInfo* totals) {
  char buf[1024];  // 7 types of at most ~110 characters each
  char* p = buf;
  *p++ = '{';
  // Most types of most entries are unused: their text is fixed.
  static const auto kZero = [] {
    std::array<std::string, ledger::kNumTypes> z;
    for (int t = 0; t < ledger::kNumTypes; ++t)
      z[t] = fmt::format("{}\"{}\":{{\"used_bytes\":0,\"buffers\":0}}", t == 0 ? "" : ",",
                         proto::kMemTypeKeys[t]);
    return z;
  }();
  for (int t = 0; t < ledger::kNumTypes; ++t) {
    if (totals == nullptr && u[t].bytes == 0 && u[t].buffers == 0) {
      std::memcpy(p, kZero[t].data(), kZero[t].size());
      p += kZero[t].size();
      continue;
    }
    p = fmt::format_to(p, FMT_COMPILE("{}\"{}\":{{\"used_bytes\":{},\"buffers\":{}"),
                       t == 0 ? "" : ",", proto::kMemTypeKeys[t], u[t].bytes, u[t].buffers);
    // total_bytes (devices only) is null until a process announced the capacity for this type.
    if (totals != nullptr && totals->capacity_bytes[t] != 0)
      p = fmt::format_to(p, FMT_COMPILE(",\"total_bytes\":{}"), totals->capacity_bytes[t]);
    else if (totals != nullptr)
      p = fmt::format_to(p, FMT_COMPILE(",\"total_bytes\":null"));
    *p++ = '}';
  }
  *p++ = '}';
  w.Raw(std::string_view(buf, static_cast<size_t>(p - buf)));
}

void WriteDeviceUsage(JsonWriter& w, const ledger::TypeUsage& u, const ledger::DeviceInfo* info) {
  static const ledger::DeviceInfo kUnknown{};
  WriteUsage(w, u, info != nullptr ? info : &kUnknown);
}

bool Any(const ledger::TypeUsage& u) {
  return std::any_of(u.begin(), u.end(), [](const ledger::Usage& x) { return x.buffers != 0; });
}

void Add(ledger::TypeUsage& into, const ledger::TypeUsage& u) {
  for (int t = 0; t < ledger::kNumTypes; ++t) {
    into[t].bytes += u[t].bytes;
    into[t].buffers += u[t].buffers;
  }
}

// A process's own parts of the document: its entry under each device it uses, and its entry in
// "processes". Regenerated only when the process or its metadata changed.
void WriteFragments(pid_t pid, const ledger::Process& p, const ProcessMeta& pm,
                    ProcessFragments* f) {
  f->device_entries.clear();
  const std::string name = Escape(pm.name);
  ledger::TypeUsage total{}, captured{};
  std::vector<uint32_t> devs;
  for (const auto& [dev_id, usage] : p.usage) {  // in device order
    Add(total, usage);
    if (!Any(usage)) continue;
    devs.push_back(dev_id);
    std::string entry;
    JsonWriter w(&entry);
    w.BeginObject();
    w.Key("pid").Int(pid);
    w.Key("name").Raw(name);
    w.Key("memory");
    WriteUsage(w, usage, nullptr);
    w.EndObject();
    f->device_entries.emplace_back(dev_id, std::move(entry));
  }
  for (const auto& [dev_id, usage] : p.captured) Add(captured, usage);
  f->process.clear();
  JsonWriter w(&f->process);
  w.BeginObject();
  w.Key("pid").Int(pid);
  w.Key("name").Raw(name);
  w.Key("cmdline").String(pm.cmdline);
  pm.version != 0 ? w.Key("uid").Uint(pm.uid) : w.Key("uid").Null();
  w.Key("user").String(pm.user);
  w.Key("tag").StringOrNull(pm.tag);
  w.Key("started_unix_ms").Uint(pm.started_unix_ms);
  w.Key("devices").BeginArray();
  for (uint32_t d : devs) w.Uint(d);
  w.EndArray();
  w.Key("memory");
  WriteUsage(w, total, nullptr);
  w.Key("capture_estimate");
  WriteUsage(w, captured, nullptr);
  w.Key("counters").BeginObject();
  w.Key("unknown_frees").Uint(p.counters.unknown_frees);
  w.Key("duplicate_allocs").Uint(p.counters.duplicate_allocs);
  w.Key("dropped_events").Uint(p.counters.dropped_events);
  w.EndObject();
  w.EndObject();
  f->ledger_version = p.version;
  f->meta_version = pm.version;
}

// tt-metal's five types in ttmem's numbering.

ledger::TypeUsage ShmUsage(const std::array<uint64_t, ttshm::kNumTypes>& used) {
  ledger::TypeUsage u{};
  for (int t = 0; t < ttshm::kNumTypes; ++t)
    u[proto::kShmFigureTypes[static_cast<size_t>(t)]].bytes = used[t];
  return u;
}

// A process known only from tt-metal's statistics, as an entry under a device.
std::string ShmDeviceEntry(const ttshm::Process& p) {
  std::string e;
  JsonWriter w(&e);
  w.BeginObject();
  w.Key("pid").Int(p.pid);
  w.Key("name").String(p.name);
  w.Key("source").String("tt-metal-shm");
  w.Key("stale").Raw(p.alive ? "false" : "true");
  w.Key("unverified").Raw(p.alive && !p.verified ? "true" : "false");
  w.Key("memory");
  WriteUsage(w, ShmUsage(p.used), nullptr);
  w.EndObject();
  return e;
}

}  // namespace

std::optional<uint32_t> NativeDeviceOfChip(const ledger::Ledger& ledger, uint64_t chip_id) {
  std::optional<uint32_t> native;
  for (const auto& [id, dev] : ledger.devices())
    if (dev.info && dev.info->unique_id != 0 && dev.info->unique_id == chip_id) native = id;
  return native;
}

namespace {

// The document's parts that come from more than one place, gathered before anything is written.
struct Parts {
  // Per device, the serialised per-process entries (native fragments and tt-metal-only slots).
  std::unordered_map<uint32_t, std::vector<const std::string*>> by_device;
  std::vector<const std::string*> process_entries;  // native processes, in pid order
  // tt-metal's statistics: processes that do not report natively, by the native device with the
  // same chip id, or else a device of their own.
  struct ShmOnly {
    const ttshm::Region* region;
    const ttshm::Process* process;
  };
  std::vector<std::string> shm_entries;             // owns the device entries in by_device
  std::map<uint32_t, ledger::TypeUsage> shm_added;  // per native device: shm-only bytes
  std::vector<const ttshm::Region*> shm_devices;    // regions of chips nobody announced
  std::map<pid_t, std::vector<ShmOnly>> shm_processes;
};

// Each native process's fragments, regenerated only when its ledger or metadata version moved.
void GatherNative(const ledger::Ledger& ledger, const std::map<pid_t, ProcessMeta>& meta,
                  StatusCache& fragments, Parts* parts) {
  static const ProcessMeta kNoMeta{};
  parts->process_entries.reserve(ledger.processes().size());
  for (const auto& [pid, p] : ledger.processes()) {
    auto m = meta.find(pid);
    const ProcessMeta& pm = m != meta.end() ? m->second : kNoMeta;
    ProcessFragments& f = fragments[pid];
    if (f.ledger_version != p.version || f.meta_version != pm.version || f.process.empty())
      WriteFragments(pid, p, pm, &f);
    for (const auto& [dev_id, entry] : f.device_entries) parts->by_device[dev_id].push_back(&entry);
    parts->process_entries.push_back(&f.process);
  }
  if (fragments.size() > ledger.processes().size()) {  // forget processes that are gone
    for (auto it = fragments.begin(); it != fragments.end();)
      it = ledger.processes().count(it->first) != 0 ? std::next(it) : fragments.erase(it);
  }
}

void GatherShm(const ledger::Ledger& ledger, const std::vector<ttshm::Region>& shm, Parts* parts) {
  parts->shm_entries.reserve(shm.size() * ttshm::kMaxProcesses);  // never reallocated below
  for (const ttshm::Region& r : shm) {
    const std::optional<uint32_t> native = NativeDeviceOfChip(ledger, r.chip_id);
    if (!native) parts->shm_devices.push_back(&r);
    for (const ttshm::Process& p : r.processes) {
      if (ledger.processes().count(p.pid) != 0) continue;  // reports natively: counted there
      parts->shm_processes[p.pid].push_back({&r, &p});
      if (!native) continue;
      parts->shm_entries.push_back(ShmDeviceEntry(p));
      parts->by_device[*native].push_back(&parts->shm_entries.back());
      Add(parts->shm_added[*native], ShmUsage(p.used));
    }
  }
}

void WriteDevices(JsonWriter& w, const ledger::Ledger& ledger, const Parts& parts) {
  w.Key("devices").BeginArray();
  for (const auto& [id, dev] : ledger.devices()) {
    const ledger::DeviceInfo* info = dev.info ? &*dev.info : nullptr;
    w.BeginObject();
    w.Key("id").Uint(id);
    info != nullptr ? w.Key("arch").StringOrNull(info->arch) : w.Key("arch").Null();
    w.Key("unique_id").UintOrNull(info != nullptr ? info->unique_id : 0);
    w.Key("num_cores").UintOrNull(info != nullptr ? info->num_cores : 0);
    w.Key("memory");
    auto added = parts.shm_added.find(id);
    if (added != parts.shm_added.end()) {
      ledger::TypeUsage both = dev.usage;
      Add(both, added->second);
      WriteDeviceUsage(w, both, info);
    } else {
      WriteDeviceUsage(w, dev.usage, info);
    }
    w.Key("capture_estimate");
    WriteUsage(w, dev.captured, nullptr);
    w.Key("processes").BeginArray();
    auto entries = parts.by_device.find(id);
    if (entries != parts.by_device.end())
      for (const std::string* e : entries->second) w.Raw(*e);
    w.EndArray();
    w.EndObject();
  }
  for (const ttshm::Region* r : parts.shm_devices) {  // chips only tt-metal's statistics know
    w.BeginObject();
    w.Key("id").Uint(r->device_id);
    w.Key("arch").Null();
    w.Key("unique_id").UintOrNull(r->chip_id);
    w.Key("num_cores").Null();
    w.Key("source").String("tt-metal-shm");
    w.Key("memory");
    WriteDeviceUsage(w, ShmUsage(r->totals), nullptr);
    w.Key("capture_estimate");
    WriteUsage(w, ledger::TypeUsage{}, nullptr);
    w.Key("processes").BeginArray();
    for (const ttshm::Process& p : r->processes) w.Raw(ShmDeviceEntry(p));
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
}

// A process only tt-metal's statistics know: the same fields as a native one (what they do not
// say is empty or zero).
void WriteShmProcess(JsonWriter& w, pid_t pid, const std::vector<Parts::ShmOnly>& seen) {
  ledger::TypeUsage total{};
  bool alive = true, verified = true;
  w.BeginObject();
  w.Key("pid").Int(pid);
  w.Key("name").String(seen.front().process->name);
  w.Key("cmdline").String("");
  w.Key("uid").Null();
  w.Key("user").String("");
  w.Key("tag").Null();
  w.Key("started_unix_ms").Uint(0);
  w.Key("source").String("tt-metal-shm");
  w.Key("devices").BeginArray();
  for (const Parts::ShmOnly& s2 : seen) {
    w.Uint(s2.region->device_id);
    Add(total, ShmUsage(s2.process->used));
    alive = alive && s2.process->alive;
    verified = verified && s2.process->verified;
  }
  w.EndArray();
  w.Key("stale").Raw(alive ? "false" : "true");
  // Alive but not tied to the region (a forged row can name any live pid): marked.
  w.Key("unverified").Raw(alive && !verified ? "true" : "false");
  w.Key("memory");
  WriteUsage(w, total, nullptr);
  w.Key("capture_estimate");
  WriteUsage(w, ledger::TypeUsage{}, nullptr);
  w.Key("counters").BeginObject();
  w.Key("unknown_frees").Uint(0);
  w.Key("duplicate_allocs").Uint(0);
  w.Key("dropped_events").Uint(0);
  w.EndObject();
  w.EndObject();
}

// Processes that hold a device open (the driver's lists) but report nothing anywhere.
void WriteOpenWithoutReport(JsonWriter& w, const ledger::Ledger& ledger,
                            const std::vector<ttshm::Region>* shm, const Parts& parts,
                            const DriverPidLists* driver) {
  w.Key("open_without_report").BeginArray();
  for (const auto& [id, pids] : driver != nullptr ? *driver : DriverPidLists{}) {
    std::vector<pid_t> silent;
    for (pid_t pid : pids) {
      if (ledger.processes().count(pid) != 0 || parts.shm_processes.count(pid) != 0) continue;
      bool in_shm = false;  // a natively tracked process's slots were skipped above
      if (shm != nullptr)
        for (const ttshm::Region& r : *shm)
          for (const ttshm::Process& p : r.processes) in_shm = in_shm || p.pid == pid;
      if (!in_shm) silent.push_back(pid);
    }
    if (silent.empty()) continue;
    w.BeginObject();
    w.Key("driver_device").Uint(id);
    w.Key("pids").BeginArray();
    for (pid_t pid : silent) w.Int(pid);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
}

void WriteCountersAndAnomalies(JsonWriter& w, const ledger::Ledger& ledger,
                               const DaemonMeta& daemon) {
  // Where libttmem and tt-metal's statistics disagree, lastingly, for one process on one device.
  w.Key("coverage_anomalies").BeginArray();
  for (const CoverageAnomaly& a : daemon.coverage_anomalies) {
    w.BeginObject();
    w.Key("pid").Int(a.figures.pid);
    w.Key("device").Uint(a.figures.device);
    w.Key("type").String(std::string(proto::kMemTypeKeys[static_cast<size_t>(a.figures.type)]));
    w.Key("native_bytes").Uint(a.figures.native_bytes);
    w.Key("tt_metal_bytes").Uint(a.figures.tt_metal_bytes);
    w.Key("since_unix_ms").Uint(a.since_unix_ms);
    w.EndObject();
  }
  w.EndArray();
  const ledger::Counters c = ledger.counters();
  w.Key("counters").BeginObject();
  w.Key("unknown_frees").Uint(c.unknown_frees);
  w.Key("duplicate_allocs").Uint(c.duplicate_allocs);
  w.Key("dropped_events").Uint(c.dropped_events);
  w.Key("live_buffers").Uint(ledger.live_buffers());
  w.Key("events_applied").Uint(daemon.events_applied);
  w.Key("clients_disconnected_for_errors").Uint(daemon.clients_disconnected_for_errors);
  w.Key("device_info_conflicts").Uint(daemon.device_info_conflicts);
  w.Key("coverage_anomalies").Uint(daemon.coverage_anomalies.size());
  w.EndObject();
}

}  // namespace

void BuildStatus(const ledger::Ledger& ledger, const std::map<pid_t, ProcessMeta>& meta,
                 const DaemonMeta& daemon, std::string* out_string, StatusCache* cache,
                 const std::vector<ttshm::Region>* shm, const DriverPidLists* driver) {
  StatusCache local;
  Parts parts;
  GatherNative(ledger, meta, cache != nullptr ? *cache : local, &parts);
  if (shm != nullptr) GatherShm(ledger, *shm, &parts);

  std::string& out = *out_string;
  size_t bytes = 4096 + ledger.devices().size() * 2048;
  for (const std::string* e : parts.process_entries) bytes += e->size() + 1;
  for (const auto& [dev_id, entries] : parts.by_device)
    for (const std::string* e : entries) bytes += e->size() + 1;
  out.reserve(out.size() + bytes);
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("version").Uint(1);
  w.Key("daemon").BeginObject();
  w.Key("pid").Int(daemon.pid);
  w.Key("socket").String(daemon.socket);
  w.Key("uptime_ms").Uint(daemon.uptime_ms);
  w.Key("protocol_version").Uint(proto::kProtocolVersion);
  w.EndObject();
  WriteDevices(w, ledger, parts);
  w.Key("processes").BeginArray();
  for (const std::string* e : parts.process_entries) w.Raw(*e);
  for (const auto& [pid, seen] : parts.shm_processes) WriteShmProcess(w, pid, seen);
  w.EndArray();
  WriteOpenWithoutReport(w, ledger, shm, parts, driver);
  WriteCountersAndAnomalies(w, ledger, daemon);
  w.EndObject();
}

}  // namespace ttmem::daemon
