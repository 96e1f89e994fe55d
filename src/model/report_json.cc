// The report model's JSON writer: `ttmem report --json`'s document.
#include "model/report.h"

#include <limits>
#include <string>
#include <type_traits>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace ttmem::model::report {
namespace {

using json = nlohmann::json;

json OpJson(const Op& op) {
  return op ? json(*op) : json();
}

template <typename T>
json Opt(const std::optional<T>& v) {
  return v ? json(*v) : json();
}

json AtJson(json j, const std::optional<PeakAt>& at) {
  if (at)
    j.update({{"peak_time_ns", at->time_ns},
              {"peak_offset_s", at->offset_s},
              {"pid", at->pid},
              {"op", OpJson(at->op)}});
  return j;
}

json TypeJson(const TypeReport& t) {
  json top = json::array(), by_op = json::array(), map = json::array(), timeline = json::array();
  for (const PeakBuffer& b : t.top_buffers)
    top.push_back({{"pid", b.pid},
                   {"name", b.name},
                   {"op", OpJson(b.op)},
                   {"id", b.id},
                   {"address", b.address},
                   {"size", b.size},
                   {"allocated_ns", b.allocated_ns}});
  for (const OpShare& o : t.by_op_at_peak)
    by_op.push_back(
        {{"op", OpJson(o.op)}, {"bytes", o.bytes}, {"buffers", o.buffers}, {"share", o.share}});
  for (const MapEntry& m : t.map_at_peak) map.push_back({m.pid, m.address, m.size, OpJson(m.op)});
  for (const TimelineBucket& b : t.timeline) {
    json by_pid = json::object();
    for (const auto& [pid, v] : b.by_pid) by_pid[std::to_string(pid)] = v;
    timeline.push_back({{"max", b.max}, {"by_pid", std::move(by_pid)}});
  }
  json j = {{"type", t.type},
            {"peak_bytes", t.peak_bytes},
            {"peak_time_ns", t.peak_time_ns},
            {"peak_offset_s", t.peak_offset_s},
            {"final_bytes", t.final_bytes},
            {"buffers_at_peak", t.buffers_at_peak},
            {"bytes_at_peak", t.bytes_at_peak},
            {"top_buffers", std::move(top)},
            {"by_op_at_peak", std::move(by_op)},
            {"map_at_peak", std::move(map)},
            {"timeline", std::move(timeline)}};
  if (t.capacity_bytes) j.emplace("capacity_bytes", *t.capacity_bytes);
  if (t.bank_count) {
    j.emplace("bank_count", *t.bank_count);
    j.emplace("bank_base", t.bank_base);
  }
  return j;
}

json DeviceJson(const DeviceReport& d) {
  json types = json::array(), timeline = json::array();
  for (const TypeReport& t : d.types) types.push_back(TypeJson(t));
  for (const auto& bucket : d.timeline_by_type) {
    json b = json::object();
    for (const auto& [type, v] : bucket) b[type] = v;
    timeline.push_back(std::move(b));
  }
  return {{"id", d.id},
          {"arch", d.arch},
          {"unique_id", d.unique_id},
          {"types", std::move(types)},
          {"timeline_by_type", std::move(timeline)}};
}

json ProcessJson(const ProcessReport& p) {
  json peak = json::object();
  for (const auto& [device, types] : p.peak_bytes)
    for (const auto& [type, v] : types) peak[std::to_string(device)][type] = v;
  json j = {{"pid", p.pid},
            {"name", p.name},
            {"user", p.user},
            {"cmdline", p.cmdline},
            {"first_seen_ns", p.first_seen_ns},
            {"existing", p.existing},
            {"events", p.events},
            {"allocs", p.allocs},
            {"frees", p.frees},
            {"capture_allocs", p.capture_allocs},
            {"leaked_buffers", p.leaked_buffers},
            {"leaked_bytes", p.leaked_bytes},
            {"peak_bytes", std::move(peak)}};
  j.emplace("ended_ns", Opt(p.ended_ns));
  if (p.ns_pid) j.emplace("ns_pid", *p.ns_pid);
  j.emplace("container", Opt(p.container));
  return j;
}

json OpsJson(const std::vector<OpReport>& ops) {
  json out = json::array();
  for (const OpReport& o : ops) {
    json peaks = json::array();
    for (const OpPeak& p : o.peaks)
      peaks.push_back({{"device", p.device},
                       {"type", p.type},
                       {"peak_bytes", p.peak_bytes},
                       {"bytes_at_type_peak", p.bytes_at_type_peak},
                       {"share_of_type_peak", Opt(p.share_of_type_peak)}});
    out.push_back({{"op", OpJson(o.op)},
                   {"allocs", o.allocs},
                   {"bytes_allocated", o.bytes_allocated},
                   {"peaks", std::move(peaks)}});
  }
  return out;
}

json PhasesJson(const PhasesReport& p) {
  json marks = json::array(), growth = json::array();
  for (const Mark& m : p.marks) {
    json held = json::array(), ops = json::array();
    for (const Held& h : m.held)
      held.push_back({{"device", h.device}, {"type", h.type}, {"bytes", h.bytes}});
    for (const OpHeld& o : m.by_op)
      ops.push_back(
          {{"op", OpJson(o.op)}, {"device", o.device}, {"type", o.type}, {"bytes", o.bytes}});
    marks.push_back({{"pid", m.pid},
                     {"name", m.name},
                     {"scope", OpJson(m.scope)},
                     {"time_ns", m.time_ns},
                     {"offset_s", m.offset_s},
                     {"held", std::move(held)},
                     {"by_op", std::move(ops)}});
  }
  for (const Growth& g : p.growth) {
    json by_type = json::array(), by_op = json::array();
    for (const TypeGrowth& t : g.by_type)
      by_type.push_back({{"device", t.device},
                         {"type", t.type},
                         {"first_bytes", t.first_bytes},
                         {"last_bytes", t.last_bytes},
                         {"growth_bytes", t.growth_bytes},
                         {"per_interval_bytes", t.per_interval_bytes},
                         {"min_step_bytes", t.min_step_bytes},
                         {"max_step_bytes", t.max_step_bytes}});
    for (const OpGrowth& o : g.by_op)
      by_op.push_back({{"op", OpJson(o.op)},
                       {"device", o.device},
                       {"type", o.type},
                       {"growth_bytes", o.growth_bytes},
                       {"per_interval_bytes", o.per_interval_bytes}});
    growth.push_back({{"pid", g.pid},
                      {"name", g.name},
                      {"marks", g.marks},
                      {"intervals", g.intervals},
                      {"by_type", std::move(by_type)},
                      {"by_op", std::move(by_op)}});
  }
  return {{"marks_total", p.marks_total},
          {"marks_listed", p.marks.size()},
          {"marks", std::move(marks)},
          {"growth", std::move(growth)}};
}

json AdviceJson(const std::vector<Advice>& advice) {
  json out = json::array();
  for (const Advice& a : advice) {
    json j = {{"device", a.device}, {"arch", a.arch}};
    auto region = [&](const Region& r, const char* size_key, const char* detail_key) {
      if (!r.peak_per_bank_bytes) {
        j[size_key] = nullptr;
        j[detail_key] = {{"note", kNoBanksNote}};
        return;
      }
      j[size_key] = *r.peak_per_bank_bytes;
      j[detail_key] = AtJson({{"peak_per_bank_bytes", *r.peak_per_bank_bytes},
                              {"bank_count", r.bank_count},
                              {"alignment", r.alignment},
                              {"configured_per_bank_bytes", r.configured_per_bank_bytes}},
                             r.at);
    };
    region(a.trace, "trace_region_size", "trace");
    region(a.l1_small, "l1_small_size", "l1_small");
    if (a.l1.bank_size_bytes)
      j.emplace("l1",
                AtJson({{"bank_size_bytes", *a.l1.bank_size_bytes},
                        {"peak_per_core_bytes", a.l1.peak_per_core_bytes},
                        {"headroom_per_core_bytes", a.l1.headroom_per_core_bytes},
                        {"l1_buffers_peak_per_bank_bytes", a.l1.l1_buffers_peak_per_bank_bytes},
                        {"cb_peak_per_core_bytes", a.l1.cb_peak_per_core_bytes}},
                       a.l1.at));
    else
      j.emplace("l1", json{{"note", kNoL1BanksNote}});
    out.push_back(std::move(j));
  }
  return out;
}

json ComparisonJson(const Comparison& c) {
  json rows = json::array();
  for (const ComparisonRow& r : c.rows) {
    json row = {{"device", r.device},
                {"type", r.type},
                {"baseline_bytes", r.baseline_bytes},
                {"bytes", r.bytes},
                {"growth_pct", Opt(r.growth_pct)},
                {"exceeded", r.exceeded}};
    if (r.op) row.emplace("op", *r.op);
    rows.push_back(std::move(row));
  }
  return {{"baseline", c.baseline},
          {"max_growth_pct", Opt(c.max_growth_pct)},
          {"rows", std::move(rows)},
          {"exceeded", c.exceeded}};
}

}  // namespace

json ToJson(const Report& r) {
  json rec = {{"file", r.recording.file},
              {"schema_version", r.recording.schema_version},
              {"host", r.recording.host},
              {"command", r.recording.command},
              {"started_ns", r.recording.started_ns},
              {"ended_ns", r.recording.ended_ns},
              {"duration_s", r.recording.duration_s},
              {"events", r.recording.events},
              {"events_lost", r.recording.events_lost},
              {"unknown_frees", r.recording.unknown_frees},
              {"live_at_end", r.recording.live_at_end},
              {"complete", r.recording.complete}};
  if (r.recording.command_status) rec.emplace("command_status", *r.recording.command_status);
  json devices = json::array(), leaks = json::array(), processes = json::array();
  for (const DeviceReport& d : r.devices) devices.push_back(DeviceJson(d));
  for (const Leak& l : r.leaks)
    leaks.push_back({{"pid", l.pid},
                     {"name", l.name},
                     {"device", l.device},
                     {"type", l.type},
                     {"id", l.id},
                     {"address", l.address},
                     {"size", l.size},
                     {"allocated_ns", l.allocated_ns},
                     {"process_ended_ns", l.process_ended_ns}});
  for (const ProcessReport& p : r.processes) processes.push_back(ProcessJson(p));
  json j = {{"recording", std::move(rec)},
            {"devices", std::move(devices)},
            {"timeline_buckets", r.timeline_buckets},
            {"leaks", std::move(leaks)},
            {"leaked_bytes", r.leaked_bytes},
            {"processes", std::move(processes)},
            {"ops", OpsJson(r.ops)},
            {"phases", PhasesJson(r.phases)},
            {"advice", AdviceJson(r.advice)}};
  if (r.comparison) j.emplace("comparison", ComparisonJson(*r.comparison));
  return j;
}

std::string ToJsonText(const Report& r) {
  return ToJson(r).dump(2, ' ', false, json::error_handler_t::replace);
}

}  // namespace ttmem::model::report
