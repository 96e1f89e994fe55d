// The report model's JSON reader: a saved `ttmem report --json` back into a Report, every field
// checked, a failure naming its path.
#include <limits>
#include <string>
#include <type_traits>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "model/report.h"

namespace ttmem::model::report {
namespace {

using json = nlohmann::json;

std::string Join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

class Reader {
 public:
  explicit Reader(std::string* error) : error_(error) {}
  bool ok() const { return ok_; }

  const json* At(const json& j, const char* key, const std::string& path) {
    if (!ok_) return nullptr;
    if (!j.is_object()) return Fail(path, "is not an object");
    auto it = j.find(key);
    if (it == j.end()) return Fail(Join(path, key), "is missing");
    return &*it;
  }
  template <typename T>
  void Get(const json& j, const char* key, const std::string& path, T* out) {
    const json* v = At(j, key, path);
    if (v != nullptr) Value(*v, Join(path, key), out);
  }
  template <typename T>
  void GetOpt(const json& j, const char* key, const std::string& path, std::optional<T>* out) {
    if (!ok_ || !j.is_object()) return;
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
      out->reset();
      return;
    }
    T v{};
    Value(*it, Join(path, key), &v);
    *out = v;
  }
  void Value(const json& v, const std::string& path, std::string* out) {
    if (!v.is_string()) return void(Fail(path, "is not a string"));
    *out = v.get<std::string>();
  }
  void Value(const json& v, const std::string& path, bool* out) {
    if (!v.is_boolean()) return void(Fail(path, "is not true or false"));
    *out = v.get<bool>();
  }
  void Value(const json& v, const std::string& path, double* out) {
    if (!v.is_number()) return void(Fail(path, "is not a number"));
    *out = v.get<double>();
  }
  void Value(const json& v, const std::string& path, Op* out) {
    if (v.is_null()) return out->reset();
    std::string s;
    Value(v, path, &s);
    *out = s;
  }
  template <typename T>
  requires std::is_integral_v<T>
  void Value(const json& v, const std::string& path, T* out) {
    if (!v.is_number_integer()) return void(Fail(path, "is not an integer"));
    if (v.is_number_unsigned()) {
      const uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<T>::max()))
        return void(Fail(path, "is out of range"));
      *out = static_cast<T>(u);
    } else {
      const int64_t s = v.get<int64_t>();
      if (s < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
          (s > 0 &&
           static_cast<uint64_t>(s) > static_cast<uint64_t>(std::numeric_limits<T>::max())))
        return void(Fail(path, "is out of range"));
      *out = static_cast<T>(s);
    }
  }
  // Each element of the array j[key], read by `each(element, its path)`.
  template <typename F>
  void Each(const json& j, const char* key, const std::string& path, F each) {
    const json* v = At(j, key, path);
    if (v == nullptr) return;
    const std::string at = Join(path, key);
    if (!v->is_array()) return void(Fail(at, "is not an array"));
    for (size_t i = 0; ok_ && i < v->size(); ++i) each((*v)[i], fmt::format("{}[{}]", at, i));
  }
  std::nullptr_t Fail(const std::string& path, const char* what) {
    if (ok_) *error_ = fmt::format("{} {}", path.empty() ? "the document" : path, what);
    ok_ = false;
    return nullptr;
  }

 private:
  std::string* error_;
  bool ok_ = true;
};

void ReadType(Reader& rd, const json& j, const std::string& at, TypeReport* t) {
  rd.Get(j, "type", at, &t->type);
  rd.Get(j, "peak_bytes", at, &t->peak_bytes);
  rd.Get(j, "peak_time_ns", at, &t->peak_time_ns);
  rd.Get(j, "peak_offset_s", at, &t->peak_offset_s);
  rd.Get(j, "final_bytes", at, &t->final_bytes);
  rd.Get(j, "buffers_at_peak", at, &t->buffers_at_peak);
  rd.Get(j, "bytes_at_peak", at, &t->bytes_at_peak);
  rd.Each(j, "top_buffers", at, [&](const json& b, const std::string& p) {
    PeakBuffer& x = t->top_buffers.emplace_back();
    rd.Get(b, "pid", p, &x.pid);
    rd.Get(b, "name", p, &x.name);
    rd.Get(b, "op", p, &x.op);
    rd.Get(b, "id", p, &x.id);
    rd.Get(b, "address", p, &x.address);
    rd.Get(b, "size", p, &x.size);
    rd.Get(b, "allocated_ns", p, &x.allocated_ns);
  });
  rd.Each(j, "by_op_at_peak", at, [&](const json& o, const std::string& p) {
    OpShare& x = t->by_op_at_peak.emplace_back();
    rd.Get(o, "op", p, &x.op);
    rd.Get(o, "bytes", p, &x.bytes);
    rd.Get(o, "buffers", p, &x.buffers);
    rd.Get(o, "share", p, &x.share);
  });
  rd.Each(j, "map_at_peak", at, [&](const json& m, const std::string& p) {
    if (!m.is_array() || m.size() != 4) return void(rd.Fail(p, "is not [pid, address, size, op]"));
    MapEntry& x = t->map_at_peak.emplace_back();
    rd.Value(m[0], p + "[0]", &x.pid);
    rd.Value(m[1], p + "[1]", &x.address);
    rd.Value(m[2], p + "[2]", &x.size);
    rd.Value(m[3], p + "[3]", &x.op);
  });
  rd.Each(j, "timeline", at, [&](const json& b, const std::string& p) {
    TimelineBucket& x = t->timeline.emplace_back();
    rd.Get(b, "max", p, &x.max);
    const json* by_pid = rd.At(b, "by_pid", p);
    if (by_pid == nullptr) return;
    if (!by_pid->is_object()) return void(rd.Fail(p + ".by_pid", "is not an object"));
    for (const auto& [pid, v] : by_pid->items()) {
      uint64_t bytes = 0;
      rd.Value(v, p + ".by_pid." + pid, &bytes);
      try {
        x.by_pid[std::stoll(pid)] = bytes;
      } catch (const std::exception&) {
        return void(rd.Fail(p + ".by_pid." + pid, "is not a pid"));
      }
    }
  });
  rd.GetOpt(j, "capacity_bytes", at, &t->capacity_bytes);
  rd.GetOpt(j, "bank_count", at, &t->bank_count);
  if (t->bank_count) rd.Get(j, "bank_base", at, &t->bank_base);
}

void ReadDevice(Reader& rd, const json& j, const std::string& at, DeviceReport* d) {
  rd.Get(j, "id", at, &d->id);
  rd.Get(j, "arch", at, &d->arch);
  rd.Get(j, "unique_id", at, &d->unique_id);
  rd.Each(j, "types", at, [&](const json& t, const std::string& p) {
    ReadType(rd, t, p, &d->types.emplace_back());
  });
  rd.Each(j, "timeline_by_type", at, [&](const json& b, const std::string& p) {
    auto& x = d->timeline_by_type.emplace_back();
    if (!b.is_object()) return void(rd.Fail(p, "is not an object"));
    for (const auto& [type, v] : b.items()) rd.Value(v, p + "." + type, &x[type]);
  });
}

void ReadProcess(Reader& rd, const json& j, const std::string& at, ProcessReport* x) {
  rd.Get(j, "pid", at, &x->pid);
  rd.Get(j, "name", at, &x->name);
  rd.Get(j, "user", at, &x->user);
  rd.Get(j, "cmdline", at, &x->cmdline);
  rd.Get(j, "first_seen_ns", at, &x->first_seen_ns);
  rd.GetOpt(j, "ended_ns", at, &x->ended_ns);
  rd.Get(j, "existing", at, &x->existing);
  rd.Get(j, "events", at, &x->events);
  rd.Get(j, "allocs", at, &x->allocs);
  rd.Get(j, "frees", at, &x->frees);
  rd.Get(j, "capture_allocs", at, &x->capture_allocs);
  rd.Get(j, "leaked_buffers", at, &x->leaked_buffers);
  rd.Get(j, "leaked_bytes", at, &x->leaked_bytes);
  rd.GetOpt(j, "ns_pid", at, &x->ns_pid);
  rd.GetOpt(j, "container", at, &x->container);
  const json* peak = rd.At(j, "peak_bytes", at);
  if (peak == nullptr) return;
  if (!peak->is_object()) return void(rd.Fail(at + ".peak_bytes", "is not an object"));
  for (const auto& [device, types] : peak->items()) {
    const std::string p = at + ".peak_bytes." + device;
    uint32_t id = 0;
    try {
      id = static_cast<uint32_t>(std::stoul(device));
    } catch (const std::exception&) {
      return void(rd.Fail(p, "is not a device id"));
    }
    if (!types.is_object()) return void(rd.Fail(p, "is not an object"));
    for (const auto& [type, v] : types.items())
      rd.Value(v, p + "." + type, &x->peak_bytes[id][type]);
  }
}

void ReadAt(Reader& rd, const json& j, const std::string& at, std::optional<PeakAt>* out) {
  if (!j.contains("peak_time_ns")) return out->reset();
  PeakAt a;
  rd.Get(j, "peak_time_ns", at, &a.time_ns);
  rd.Get(j, "peak_offset_s", at, &a.offset_s);
  rd.Get(j, "pid", at, &a.pid);
  rd.Get(j, "op", at, &a.op);
  *out = a;
}

void ReadRegion(Reader& rd, const json& a, const char* size_key, const char* detail_key,
                const std::string& at, Region* r) {
  rd.GetOpt(a, size_key, at, &r->peak_per_bank_bytes);
  const json* d = rd.At(a, detail_key, at);
  if (d == nullptr || !r->peak_per_bank_bytes) return;
  const std::string p = at + "." + detail_key;
  rd.Get(*d, "bank_count", p, &r->bank_count);
  rd.Get(*d, "alignment", p, &r->alignment);
  rd.Get(*d, "configured_per_bank_bytes", p, &r->configured_per_bank_bytes);
  ReadAt(rd, *d, p, &r->at);
}

void ReadAdvice(Reader& rd, const json& j, const std::string& at, Advice* a) {
  rd.Get(j, "device", at, &a->device);
  rd.Get(j, "arch", at, &a->arch);
  ReadRegion(rd, j, "trace_region_size", "trace", at, &a->trace);
  ReadRegion(rd, j, "l1_small_size", "l1_small", at, &a->l1_small);
  const json* l1 = rd.At(j, "l1", at);
  if (l1 == nullptr || !l1->is_object() || l1->contains("note")) return;
  const std::string p = at + ".l1";
  uint64_t bank = 0;
  rd.Get(*l1, "bank_size_bytes", p, &bank);
  a->l1.bank_size_bytes = bank;
  rd.Get(*l1, "peak_per_core_bytes", p, &a->l1.peak_per_core_bytes);
  rd.Get(*l1, "headroom_per_core_bytes", p, &a->l1.headroom_per_core_bytes);
  rd.Get(*l1, "l1_buffers_peak_per_bank_bytes", p, &a->l1.l1_buffers_peak_per_bank_bytes);
  rd.Get(*l1, "cb_peak_per_core_bytes", p, &a->l1.cb_peak_per_core_bytes);
  ReadAt(rd, *l1, p, &a->l1.at);
}

void ReadPhases(Reader& rd, const json& j, const std::string& at, PhasesReport* ph) {
  rd.Get(j, "marks_total", at, &ph->marks_total);
  rd.Each(j, "marks", at, [&](const json& m, const std::string& p) {
    Mark& x = ph->marks.emplace_back();
    rd.Get(m, "pid", p, &x.pid);
    rd.Get(m, "name", p, &x.name);
    rd.Get(m, "scope", p, &x.scope);
    rd.Get(m, "time_ns", p, &x.time_ns);
    rd.Get(m, "offset_s", p, &x.offset_s);
    rd.Each(m, "held", p, [&](const json& h, const std::string& q) {
      Held& y = x.held.emplace_back();
      rd.Get(h, "device", q, &y.device);
      rd.Get(h, "type", q, &y.type);
      rd.Get(h, "bytes", q, &y.bytes);
    });
    rd.Each(m, "by_op", p, [&](const json& o, const std::string& q) {
      OpHeld& y = x.by_op.emplace_back();
      rd.Get(o, "op", q, &y.op);
      rd.Get(o, "device", q, &y.device);
      rd.Get(o, "type", q, &y.type);
      rd.Get(o, "bytes", q, &y.bytes);
    });
  });
  rd.Each(j, "growth", at, [&](const json& g, const std::string& p) {
    Growth& x = ph->growth.emplace_back();
    rd.Get(g, "pid", p, &x.pid);
    rd.Get(g, "name", p, &x.name);
    rd.Get(g, "marks", p, &x.marks);
    rd.Get(g, "intervals", p, &x.intervals);
    rd.Each(g, "by_type", p, [&](const json& t, const std::string& q) {
      TypeGrowth& y = x.by_type.emplace_back();
      rd.Get(t, "device", q, &y.device);
      rd.Get(t, "type", q, &y.type);
      rd.Get(t, "first_bytes", q, &y.first_bytes);
      rd.Get(t, "last_bytes", q, &y.last_bytes);
      rd.Get(t, "growth_bytes", q, &y.growth_bytes);
      rd.Get(t, "per_interval_bytes", q, &y.per_interval_bytes);
      rd.Get(t, "min_step_bytes", q, &y.min_step_bytes);
      rd.Get(t, "max_step_bytes", q, &y.max_step_bytes);
    });
    rd.Each(g, "by_op", p, [&](const json& o, const std::string& q) {
      OpGrowth& y = x.by_op.emplace_back();
      rd.Get(o, "op", q, &y.op);
      rd.Get(o, "device", q, &y.device);
      rd.Get(o, "type", q, &y.type);
      rd.Get(o, "growth_bytes", q, &y.growth_bytes);
      rd.Get(o, "per_interval_bytes", q, &y.per_interval_bytes);
    });
  });
}

}  // namespace

namespace {

void ReadRecordingFacts(Reader& rd, const json& rec, RecordingFacts* f) {
  const std::string p = "recording";
  rd.Get(rec, "file", p, &f->file);
  rd.Get(rec, "schema_version", p, &f->schema_version);
  rd.Get(rec, "host", p, &f->host);
  rd.Get(rec, "command", p, &f->command);
  rd.Get(rec, "started_ns", p, &f->started_ns);
  rd.Get(rec, "ended_ns", p, &f->ended_ns);
  rd.Get(rec, "duration_s", p, &f->duration_s);
  rd.Get(rec, "events", p, &f->events);
  rd.Get(rec, "events_lost", p, &f->events_lost);
  rd.Get(rec, "unknown_frees", p, &f->unknown_frees);
  rd.Get(rec, "live_at_end", p, &f->live_at_end);
  rd.Get(rec, "complete", p, &f->complete);
  rd.GetOpt(rec, "command_status", p, &f->command_status);
}

void ReadLeak(Reader& rd, const json& l, const std::string& p, Leak* x) {
  rd.Get(l, "pid", p, &x->pid);
  rd.Get(l, "name", p, &x->name);
  rd.Get(l, "device", p, &x->device);
  rd.Get(l, "type", p, &x->type);
  rd.Get(l, "id", p, &x->id);
  rd.Get(l, "address", p, &x->address);
  rd.Get(l, "size", p, &x->size);
  rd.Get(l, "allocated_ns", p, &x->allocated_ns);
  rd.Get(l, "process_ended_ns", p, &x->process_ended_ns);
}

void ReadOp(Reader& rd, const json& o, const std::string& p, OpReport* x) {
  rd.Get(o, "op", p, &x->op);
  rd.Get(o, "allocs", p, &x->allocs);
  rd.Get(o, "bytes_allocated", p, &x->bytes_allocated);
  rd.Each(o, "peaks", p, [&](const json& k, const std::string& q) {
    OpPeak& y = x->peaks.emplace_back();
    rd.Get(k, "device", q, &y.device);
    rd.Get(k, "type", q, &y.type);
    rd.Get(k, "peak_bytes", q, &y.peak_bytes);
    rd.Get(k, "bytes_at_type_peak", q, &y.bytes_at_type_peak);
    rd.GetOpt(k, "share_of_type_peak", q, &y.share_of_type_peak);
  });
}

void ReadComparison(Reader& rd, const json& c, Comparison* x) {
  rd.Get(c, "baseline", "comparison", &x->baseline);
  rd.GetOpt(c, "max_growth_pct", "comparison", &x->max_growth_pct);
  rd.Get(c, "exceeded", "comparison", &x->exceeded);
  rd.Each(c, "rows", "comparison", [&](const json& w, const std::string& p) {
    ComparisonRow& y = x->rows.emplace_back();
    rd.Get(w, "device", p, &y.device);
    rd.Get(w, "type", p, &y.type);
    rd.GetOpt(w, "op", p, &y.op);
    rd.Get(w, "baseline_bytes", p, &y.baseline_bytes);
    rd.Get(w, "bytes", p, &y.bytes);
    rd.GetOpt(w, "growth_pct", p, &y.growth_pct);
    rd.Get(w, "exceeded", p, &y.exceeded);
  });
}

}  // namespace

bool FromJson(const json& j, Report* r, std::string* error) {
  *r = Report{};
  Reader rd(error);
  if (!j.is_object()) return rd.Fail("", "is not a report (not a JSON object)") != nullptr;
  if (const json* rec = rd.At(j, "recording", "")) ReadRecordingFacts(rd, *rec, &r->recording);
  rd.Each(j, "devices", "", [&](const json& d, const std::string& p) {
    ReadDevice(rd, d, p, &r->devices.emplace_back());
  });
  rd.Get(j, "timeline_buckets", "", &r->timeline_buckets);
  rd.Each(j, "leaks", "", [&](const json& l, const std::string& p) {
    ReadLeak(rd, l, p, &r->leaks.emplace_back());
  });
  rd.Get(j, "leaked_bytes", "", &r->leaked_bytes);
  rd.Each(j, "processes", "", [&](const json& x, const std::string& p) {
    ReadProcess(rd, x, p, &r->processes.emplace_back());
  });
  rd.Each(j, "ops", "",
          [&](const json& o, const std::string& p) { ReadOp(rd, o, p, &r->ops.emplace_back()); });
  if (const json* ph = rd.At(j, "phases", "")) ReadPhases(rd, *ph, "phases", &r->phases);
  rd.Each(j, "advice", "", [&](const json& a, const std::string& p) {
    ReadAdvice(rd, a, p, &r->advice.emplace_back());
  });
  if (rd.ok() && j.contains("comparison"))
    ReadComparison(rd, j.at("comparison"), &r->comparison.emplace());
  return rd.ok();
}

ReadResult FromJsonText(std::string_view text, Report* r, std::string* error) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    *error = "not valid JSON";
    return ReadResult::kNotJson;
  }
  return FromJson(j, r, error) ? ReadResult::kOk : ReadResult::kNotAReport;
}

}  // namespace ttmem::model::report
