// Reading the status document into the model: tolerant (absent or mistyped fields keep their
// defaults, nothing throws), strict only about what makes it a status document.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "model/status_json.h"

namespace ttmem::model {

namespace {

using nlohmann::json;

const json* Field(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it != j.end() ? &*it : nullptr;
}

std::optional<uint64_t> U64(const json& j, const char* key) {
  const json* v = Field(j, key);
  if (v != nullptr && v->is_number_unsigned()) return v->get<uint64_t>();
  if (v != nullptr && v->is_number_integer() && v->get<int64_t>() >= 0) return v->get<uint64_t>();
  return std::nullopt;
}

pid_t Pid(const json& j, const char* key = "pid") {
  const json* v = Field(j, key);
  if (v == nullptr || !v->is_number_integer()) return 0;
  const int64_t p = v->get<int64_t>();
  return p >= -1 && p <= 0x7fffffff ? static_cast<pid_t>(p) : 0;
}

std::optional<std::string> Str(const json& j, const char* key) {
  const json* v = Field(j, key);
  if (v != nullptr && v->is_string()) return v->get<std::string>();
  return std::nullopt;
}

bool Flag(const json& j, const char* key) {
  const json* v = Field(j, key);
  return v != nullptr && v->is_boolean() && v->get<bool>();
}

const json& Array(const json& j, const char* key) {
  static const json kEmpty = json::array();
  const json* v = Field(j, key);
  return v != nullptr && v->is_array() ? *v : kEmpty;
}

Memory ReadMemory(const json& j) {
  Memory m{};
  for (int t = 0; t < proto::kNumMemTypes; ++t) {
    const json* f = Field(j, std::string(proto::kMemTypeKeys[t]).c_str());
    if (f == nullptr) continue;
    m[t].used_bytes = U64(*f, "used_bytes");
    m[t].buffers = U64(*f, "buffers");
    m[t].total_bytes = U64(*f, "total_bytes");
  }
  return m;
}

std::vector<pid_t> Pids(const json& a) {
  std::vector<pid_t> out;
  for (const json& v : a)
    if (v.is_number_integer()) out.push_back(static_cast<pid_t>(v.get<int64_t>()));
  return out;
}

Device ReadDevice(const json& j) {
  Device d;
  d.id = static_cast<uint32_t>(U64(j, "id").value_or(0));
  d.arch = Str(j, "arch");
  d.unique_id = U64(j, "unique_id");
  d.num_cores = U64(j, "num_cores");
  if (auto v = U64(j, "pcie_id"); v && *v <= UINT32_MAX) d.pcie_id = static_cast<uint32_t>(*v);
  if (auto v = U64(j, "mmio_device"); v && *v <= UINT32_MAX)
    d.mmio_device = static_cast<uint32_t>(*v);
  d.board_id = U64(j, "board_id");
  d.board_type = Str(j, "board_type");
  d.source = Str(j, "source");
  if (auto v = U64(j, "layout_version")) d.layout_version = static_cast<uint32_t>(*v);
  d.region = Str(j, "region");
  if (const json* m = Field(j, "memory")) d.memory = ReadMemory(*m);
  if (const json* m = Field(j, "capture_estimate")) d.capture_estimate = ReadMemory(*m);
  for (const json& e : Array(j, "processes")) {
    DeviceProcess p;
    p.pid = Pid(e);
    p.name = Str(e, "name").value_or("");
    p.source = Str(e, "source");
    p.stale = Flag(e, "stale");
    p.unverified = Flag(e, "unverified");
    if (const json* m = Field(e, "memory")) p.memory = ReadMemory(*m);
    d.processes.push_back(std::move(p));
  }
  if (const json* o = Field(j, "open_without_report"); o != nullptr && o->is_array())
    d.open_without_report = Pids(*o);
  if (const json* o = Field(j, "open_by"); o != nullptr && o->is_array()) d.open_by = Pids(*o);
  return d;
}

Process ReadProcess(const json& j) {
  Process p;
  p.pid = Pid(j);
  p.name = Str(j, "name").value_or("");
  p.cmdline = Str(j, "cmdline").value_or("");
  if (auto uid = U64(j, "uid"); uid && *uid <= 0xffffffffu) p.uid = static_cast<uint32_t>(*uid);
  p.user = Str(j, "user").value_or("");
  p.tag = Str(j, "tag");
  p.started_unix_ms = U64(j, "started_unix_ms").value_or(0);
  if (auto ns = U64(j, "ns_pid"); ns && *ns >= 1 && *ns <= 0x7fffffff)
    p.ns_pid = static_cast<pid_t>(*ns);
  p.container = Str(j, "container");
  p.container_runtime = Str(j, "container_runtime");
  p.pod = Str(j, "pod");
  p.container_claimed = Str(j, "container_claimed");
  p.source = Str(j, "source");
  for (const json& d : Array(j, "devices"))
    if (d.is_number_unsigned()) p.devices.push_back(d.get<uint32_t>());
  p.stale = Flag(j, "stale");
  p.unverified = Flag(j, "unverified");
  p.stale_reason = Str(j, "stale_reason");
  p.unverified_reason = Str(j, "unverified_reason");
  if (const json* m = Field(j, "memory")) p.memory = ReadMemory(*m);
  if (const json* m = Field(j, "capture_estimate")) p.capture_estimate = ReadMemory(*m);
  if (const json* c = Field(j, "counters")) {
    p.counters.unknown_frees = U64(*c, "unknown_frees").value_or(0);
    p.counters.duplicate_allocs = U64(*c, "duplicate_allocs").value_or(0);
    p.counters.dropped_events = U64(*c, "dropped_events").value_or(0);
  }
  return p;
}

void ReadTail(const json& j, Status* s) {
  if (const json* a = Field(j, "open_without_report"); a != nullptr && a->is_array()) {
    s->open_without_report.emplace();
    for (const json& o : *a)
      s->open_without_report->push_back(
          {static_cast<uint32_t>(U64(o, "driver_device").value_or(0)), Pids(Array(o, "pids"))});
  }
  if (const json* a = Field(j, "coverage_anomalies"); a != nullptr && a->is_array()) {
    s->coverage_anomalies.emplace();
    for (const json& o : *a)
      s->coverage_anomalies->push_back(
          {Pid(o), static_cast<uint32_t>(U64(o, "device").value_or(0)),
           proto::MemTypeFromKey(Str(o, "type").value_or("")).value_or(0),
           U64(o, "native_bytes").value_or(0), U64(o, "tt_metal_bytes").value_or(0),
           U64(o, "since_unix_ms").value_or(0)});
  }
  if (const json* c = Field(j, "counters"); c != nullptr && c->is_object()) {
    Counters& k = s->counters.emplace();
    k.unknown_frees = U64(*c, "unknown_frees").value_or(0);
    k.duplicate_allocs = U64(*c, "duplicate_allocs").value_or(0);
    k.dropped_events = U64(*c, "dropped_events").value_or(0);
    k.live_buffers = U64(*c, "live_buffers").value_or(0);
    k.events_applied = U64(*c, "events_applied").value_or(0);
    k.clients_disconnected_for_errors = U64(*c, "clients_disconnected_for_errors").value_or(0);
    k.device_info_conflicts = U64(*c, "device_info_conflicts").value_or(0);
    k.failed_queries = U64(*c, "failed_queries").value_or(0);
    k.coverage_anomalies = U64(*c, "coverage_anomalies").value_or(0);
  }
  if (const json* a = Field(j, "problems"); a != nullptr && a->is_array()) {
    s->problems.emplace();
    for (const json& p : *a)
      if (p.is_string()) s->problems->push_back(p.get<std::string>());
  }
}

}  // namespace

bool FromJson(const json& j, Status* out, std::string* error) {
  if (!j.is_object()) {
    *error = "the reply is not a status document (not a JSON object)";
    return false;
  }
  if (auto e = Str(j, "error")) {
    *error = "the daemon answered: " + *e;
    return false;
  }
  Status s;
  s.version = static_cast<uint32_t>(U64(j, "version").value_or(1));  // absent: a partial one
  if (s.version != 1) {
    *error = fmt::format(
        "the status document has version {}, this ttmem reads version 1 (use the ttmem that came "
        "with this ttmemd)",
        Field(j, "version") != nullptr ? Field(j, "version")->dump() : "(none)");
    return false;
  }
  s.source = Str(j, "source");
  s.shm_dir = Str(j, "shm_dir");
  if (const json* d = Field(j, "daemon"); d != nullptr && d->is_object())
    s.daemon = DaemonInfo{Pid(*d), Str(*d, "socket").value_or(""), U64(*d, "uptime_ms").value_or(0),
                          static_cast<uint32_t>(U64(*d, "protocol_version").value_or(0))};
  for (const json& d : Array(j, "devices")) s.devices.push_back(ReadDevice(d));
  for (const json& p : Array(j, "processes")) s.processes.push_back(ReadProcess(p));
  ReadTail(j, &s);
  *out = std::move(s);
  return true;
}

bool FromJsonText(std::string_view text, Status* out, std::string* error) {
  return FromJson(json::parse(text, nullptr, /*allow_exceptions=*/false), out, error);
}

}  // namespace ttmem::model
