// The status document's JSON, written straight into a string (building it as an nlohmann::json
// tree first cost 85 ms at 32 devices × 256 processes; streaming costs about 2 ms, and a memo
// keeps unchanged processes' parts between documents), and read back tolerantly.
#include "model/status_json.h"

#include <array>
#include <cstring>
#include <string_view>

#include <fmt/compile.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

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
    std::array<std::string, proto::kNumMemTypes> z;
    for (int t = 0; t < proto::kNumMemTypes; ++t)
      z[t] = fmt::format("{}\"{}\":{{\"used_bytes\":0,\"buffers\":0}}", t == 0 ? "" : ",",
                         proto::kMemTypeKeys[t]);
    return z;
  }();
  for (int t = 0; t < proto::kNumMemTypes; ++t) {
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
  if (p.ns_pid) w.Key("ns_pid").Int(*p.ns_pid);
  OptionalString(w.Key("container"), p.container);
  if (p.container_runtime) w.Key("container_runtime").String(*p.container_runtime);
  if (p.pod) w.Key("pod").String(*p.pod);
  if (p.container_claimed) w.Key("container_claimed").String(*p.container_claimed);
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
    OptionalUint(w.Key("pcie_id"), d.pcie_id);
    OptionalUint(w.Key("mmio_device"), d.mmio_device);
    OptionalUint(w.Key("board_id"), d.board_id);
    OptionalString(w.Key("board_type"), d.board_type);
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
    if (d.open_by) {
      w.Key("open_by").BeginArray();
      for (pid_t pid : *d.open_by) w.Int(pid);
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
    w.Key("failed_queries").Uint(c.failed_queries);
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

}  // namespace ttmem::model
