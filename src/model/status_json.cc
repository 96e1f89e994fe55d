// The status document's JSON, written straight into a string (building it as an nlohmann::json
// tree first cost 85 ms at 32 devices × 256 processes; streaming costs about 2 ms, and a memo
// keeps unchanged processes' parts between documents), and read back tolerantly.
#include "model/status_json.h"

#include <array>
#include <cstring>
#include <string_view>

#include <fmt/compile.h>
#include <fmt/format.h>

#include "model/json_writer.h"

namespace ttmem::model {
namespace {

using nlohmann::json;

enum class Totals { kOmit, kWrite };

char* PutOptional(char* p, const std::optional<uint64_t>& v) {
  if (v) return fmt::format_to(p, FMT_COMPILE("{}"), *v);
  std::memcpy(p, "null", 4);
  return p + 4;
}

// {"dram": {"used_bytes": .., "buffers": .., ["total_bytes": ..|null]}, ...}: the bulk of the
// document (7 types per device and per process on each device), formatted in one buffer.
void WriteMemory(JsonWriter& w, const Memory& m, Totals totals) {
  char buf[1024];  // 7 types of at most ~110 characters each
  char* p = buf;
  *p++ = '{';
  // Most types of most entries are unused: their text is fixed.
  static const auto kZero = [] {
    std::array<std::string, kNumTypes> z;
    for (int t = 0; t < kNumTypes; ++t)
      z[t] = fmt::format("{}\"{}\":{{\"used_bytes\":0,\"buffers\":0}}", t == 0 ? "" : ",",
                         proto::kMemTypeKeys[t]);
    return z;
  }();
  for (int t = 0; t < kNumTypes; ++t) {
    const Figures& f = m[t];
    if (totals == Totals::kOmit && f.used_bytes == 0u && f.buffers == 0u) {
      std::memcpy(p, kZero[t].data(), kZero[t].size());
      p += kZero[t].size();
      continue;
    }
    p = fmt::format_to(p, FMT_COMPILE("{}\"{}\":{{\"used_bytes\":"), t == 0 ? "" : ",",
                       proto::kMemTypeKeys[t]);
    p = PutOptional(p, f.used_bytes);
    p = fmt::format_to(p, FMT_COMPILE(",\"buffers\":"));
    p = PutOptional(p, f.buffers);
    if (totals == Totals::kWrite) {
      p = fmt::format_to(p, FMT_COMPILE(",\"total_bytes\":"));
      p = PutOptional(p, f.total_bytes);
    }
    *p++ = '}';
  }
  *p++ = '}';
  w.Raw(std::string_view(buf, static_cast<size_t>(p - buf)));
}

void OptionalString(JsonWriter& w, const std::optional<std::string>& v) {
  v ? w.String(*v) : w.Null();
}
void OptionalUint(JsonWriter& w, const std::optional<uint64_t>& v) {
  v ? w.Uint(*v) : w.Null();
}
void Bool(JsonWriter& w, bool v) {
  w.Raw(v ? "true" : "false");
}

void WriteDeviceProcess(const DeviceProcess& e, std::string* out) {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("pid").Int(e.pid);
  w.Key("name").String(e.name);
  if (e.source) {
    w.Key("source").String(*e.source);
    Bool(w.Key("stale"), e.stale);
    Bool(w.Key("unverified"), e.unverified);
  }
  w.Key("memory");
  WriteMemory(w, e.memory, Totals::kOmit);
  w.EndObject();
}

void WriteProcess(const Process& p, std::string* out) {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("pid").Int(p.pid);
  w.Key("name").String(p.name);
  w.Key("cmdline").String(p.cmdline);
  p.uid ? w.Key("uid").Uint(*p.uid) : w.Key("uid").Null();
  w.Key("user").String(p.user);
  OptionalString(w.Key("tag"), p.tag);
  w.Key("started_unix_ms").Uint(p.started_unix_ms);
  if (p.source) w.Key("source").String(*p.source);
  w.Key("devices").BeginArray();
  for (uint32_t d : p.devices) w.Uint(d);
  w.EndArray();
  if (p.source) {
    Bool(w.Key("stale"), p.stale);
    Bool(w.Key("unverified"), p.unverified);
    OptionalString(w.Key("stale_reason"), p.stale_reason);
    OptionalString(w.Key("unverified_reason"), p.unverified_reason);
  }
  w.Key("memory");
  WriteMemory(w, p.memory, Totals::kOmit);
  w.Key("capture_estimate");
  WriteMemory(w, p.capture_estimate, Totals::kOmit);
  w.Key("counters").BeginObject();
  w.Key("unknown_frees").Uint(p.counters.unknown_frees);
  w.Key("duplicate_allocs").Uint(p.counters.duplicate_allocs);
  w.Key("dropped_events").Uint(p.counters.dropped_events);
  w.EndObject();
  w.EndObject();
}

// A memoised part: the memo's text when the revision is unchanged, else written (and kept).
class Parts {
 public:
  Parts(JsonMemo* memo) : memo_(memo), document_(memo != nullptr ? memo->NextDocument() : 0) {}
  ~Parts() {
    if (memo_ != nullptr) memo_->ForgetUnseen();
  }
  void DeviceEntry(JsonWriter& w, const DeviceProcess& e, uint32_t device) {
    JsonMemo::Entry* m = Find(e.pid, e.revision);
    if (m == nullptr) {
      scratch_.clear();
      WriteDeviceProcess(e, &scratch_);
      w.Raw(scratch_);
      return;
    }
    const size_t n = m->on_devices.size();
    for (size_t k = 0; k < n; ++k) {  // usually the first one looked at
      const size_t i = (m->next + k) % n;
      if (m->on_devices[i].first == device) {
        m->next = i + 1;
        return w.Raw(m->on_devices[i].second);
      }
    }
    m->on_devices.emplace_back(device, std::string());
    WriteDeviceProcess(e, &m->on_devices.back().second);
    w.Raw(m->on_devices.back().second);
  }
  void ProcessEntry(JsonWriter& w, const Process& p) {
    JsonMemo::Entry* m = Find(p.pid, p.revision);
    if (m == nullptr) {
      scratch_.clear();
      WriteProcess(p, &scratch_);
      return w.Raw(scratch_);
    }
    if (m->process.empty()) WriteProcess(p, &m->process);
    w.Raw(m->process);
  }

 private:
  JsonMemo::Entry* Find(pid_t pid, const Revision& r) {
    if (memo_ == nullptr || (r[0] == 0 && r[1] == 0)) return nullptr;
    JsonMemo::Entry& m = memo_->entries()[pid];
    if (m.revision[0] != r[0] || m.revision[1] != r[1]) {
      m.revision = r;
      m.process.clear();
      m.on_devices.clear();
    }
    if (m.seen != document_) m.next = 0;
    m.seen = document_;
    return &m;
  }
  JsonMemo* memo_;
  uint64_t document_;
  std::string scratch_;
};

void WriteDevices(JsonWriter& w, const Status& s, Parts& parts) {
  w.Key("devices").BeginArray();
  for (const Device& d : s.devices) {
    w.BeginObject();
    w.Key("id").Uint(d.id);
    OptionalString(w.Key("arch"), d.arch);
    OptionalUint(w.Key("unique_id"), d.unique_id);
    OptionalUint(w.Key("num_cores"), d.num_cores);
    if (d.source) w.Key("source").String(*d.source);
    if (d.layout_version) w.Key("layout_version").Uint(*d.layout_version);
    if (d.region) w.Key("region").String(*d.region);
    w.Key("memory");
    WriteMemory(w, d.memory, Totals::kWrite);
    if (d.capture_estimate) {
      w.Key("capture_estimate");
      WriteMemory(w, *d.capture_estimate, Totals::kOmit);
    }
    w.Key("processes").BeginArray();
    for (const DeviceProcess& e : d.processes) parts.DeviceEntry(w, e, d.id);
    w.EndArray();
    if (d.open_without_report) {
      w.Key("open_without_report").BeginArray();
      for (pid_t pid : *d.open_without_report) w.Int(pid);
      w.EndArray();
    }
    w.EndObject();
  }
  w.EndArray();
}

void WriteTail(JsonWriter& w, const Status& s) {
  if (s.open_without_report) {
    w.Key("open_without_report").BeginArray();
    for (const DriverOpen& o : *s.open_without_report) {
      w.BeginObject();
      w.Key("driver_device").Uint(o.driver_device);
      w.Key("pids").BeginArray();
      for (pid_t pid : o.pids) w.Int(pid);
      w.EndArray();
      w.EndObject();
    }
    w.EndArray();
  }
  if (s.coverage_anomalies) {
    w.Key("coverage_anomalies").BeginArray();
    for (const CoverageAnomaly& a : *s.coverage_anomalies) {
      w.BeginObject();
      w.Key("pid").Int(a.pid);
      w.Key("device").Uint(a.device);
      w.Key("type").String(std::string(proto::kMemTypeKeys[static_cast<size_t>(a.type)]));
      w.Key("native_bytes").Uint(a.native_bytes);
      w.Key("tt_metal_bytes").Uint(a.tt_metal_bytes);
      w.Key("since_unix_ms").Uint(a.since_unix_ms);
      w.EndObject();
    }
    w.EndArray();
  }
  if (s.counters) {
    const Counters& c = *s.counters;
    w.Key("counters").BeginObject();
    w.Key("unknown_frees").Uint(c.unknown_frees);
    w.Key("duplicate_allocs").Uint(c.duplicate_allocs);
    w.Key("dropped_events").Uint(c.dropped_events);
    w.Key("live_buffers").Uint(c.live_buffers);
    w.Key("events_applied").Uint(c.events_applied);
    w.Key("clients_disconnected_for_errors").Uint(c.clients_disconnected_for_errors);
    w.Key("device_info_conflicts").Uint(c.device_info_conflicts);
    w.Key("coverage_anomalies").Uint(c.coverage_anomalies);
    w.EndObject();
  }
  if (s.problems) {
    w.Key("problems").BeginArray();
    for (const std::string& p : *s.problems) w.String(p);
    w.EndArray();
  }
}

}  // namespace

void JsonMemo::ForgetUnseen() {
  for (auto it = entries_.begin(); it != entries_.end();)
    it = it->second.seen == document_ ? std::next(it) : entries_.erase(it);
}

void WriteJson(const Status& s, std::string* out, JsonMemo* memo) {
  // One allocation where possible (a reply goes into a fresh outbox: growing it by doubling
  // copied 4.5 MB at 2.9 MB): the last document's size and a margin, or an estimate.
  const size_t start = out->size();
  size_t entries = 0;
  for (const Device& d : s.devices) entries += d.processes.size();
  const size_t estimate =
      4096 + s.devices.size() * 1024 + s.processes.size() * 1024 + entries * 600;
  out->reserve(start + (memo != nullptr && memo->last_size() != 0
                            ? memo->last_size() + memo->last_size() / 8 + 4096
                            : estimate));
  Parts parts(memo);
  JsonWriter w(out);
  w.BeginObject();
  w.Key("version").Uint(s.version);
  if (s.source) w.Key("source").String(*s.source);
  if (s.shm_dir) w.Key("shm_dir").String(*s.shm_dir);
  if (s.daemon) {
    w.Key("daemon").BeginObject();
    w.Key("pid").Int(s.daemon->pid);
    w.Key("socket").String(s.daemon->socket);
    w.Key("uptime_ms").Uint(s.daemon->uptime_ms);
    w.Key("protocol_version").Uint(s.daemon->protocol_version);
    w.EndObject();
  }
  WriteDevices(w, s, parts);
  w.Key("processes").BeginArray();
  for (const Process& p : s.processes) parts.ProcessEntry(w, p);
  w.EndArray();
  WriteTail(w, s);
  w.EndObject();
  if (memo != nullptr) memo->set_last_size(out->size() - start);
}

std::string ToJson(const Status& s) {
  std::string out;
  WriteJson(s, &out);
  return out;
}

// ---- reading ----------------------------------------------------------------------------------

namespace {

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
  for (int t = 0; t < kNumTypes; ++t) {
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

}  // namespace ttmem::model
