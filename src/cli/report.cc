// ttmem report: peaks, buffers live at each peak, leaks and processes of a recording.
#include "cli/report.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/recording.h"
#include "cli/report_ops.h"
#include "cli/report_replay.h"
#include "cli/report_trace.h"
#include "ledger/ledger.h"
#include "protocol/mem_types.h"
#include "protocol/wire.h"

namespace ttmem::cli {
namespace {

using namespace replay;  // NOLINT: the replay's types are this file's vocabulary

// Bytes by op in a list of buffers ("" for those made outside any scope).
std::map<OpName, std::array<uint64_t, 2>> BytesByOp(const std::vector<report::PeakBuffer>& list) {
  std::map<OpName, std::array<uint64_t, 2>> out;
  for (const report::PeakBuffer& b : list) {
    auto& v = out[b.op.value_or("")];
    v[0] += b.size;
    ++v[1];
  }
  return out;
}

// The ops holding memory at a type's peak, largest first, each with its share of the peak.
std::vector<report::OpShare> ByOpAtPeak(const std::vector<report::PeakBuffer>& list,
                                        uint64_t peak) {
  std::vector<std::pair<OpName, std::array<uint64_t, 2>>> rows;
  for (const auto& row : BytesByOp(list)) rows.push_back(row);
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a.second[0] > b.second[0]; });
  std::vector<report::OpShare> out;
  for (const auto& [op, v] : rows)
    out.push_back({op.empty() ? report::Op() : report::Op(op), v[0], v[1],
                   peak == 0 ? 0.0 : static_cast<double>(v[0]) / static_cast<double>(peak)});
  return out;
}

report::TypeReport TypeDocument(int t, const TypeState& ts, const DevInfo& info,
                                const std::vector<report::PeakBuffer>& list, uint32_t top,
                                const Recording& rec) {
  report::TypeReport r;
  r.type = std::string(proto::MemTypeKey(t));
  r.peak_bytes = ts.peak;
  r.peak_time_ns = ts.peak_ns;
  r.peak_offset_s = static_cast<double>(ts.peak_ns - rec.t0) / 1e9;
  r.final_bytes = ts.cur;
  r.buffers_at_peak = list.size();
  for (const report::PeakBuffer& b : list) r.bytes_at_peak += b.size;
  // The address map keeps every buffer (up to 5000), the listing the largest `top`.
  for (size_t i = 0; i < list.size(); ++i) {
    if (i < top) r.top_buffers.push_back(list[i]);
    if (i < 5000) r.map_at_peak.push_back({list[i].pid, list[i].address, list[i].size, list[i].op});
  }
  r.by_op_at_peak = ByOpAtPeak(list, ts.peak);
  for (const Bucket& b : ts.buckets) {
    report::TimelineBucket& tb = r.timeline.emplace_back();
    tb.max = b.max;
    for (const auto& [proc, v] : b.procs)
      if (v != 0) tb.by_pid[rec.procs.at(proc).pid] = v;
  }
  if (info.capacity[t] != 0) r.capacity_bytes = info.capacity[t];
  if (info.bank_count[t] != 0) {
    r.bank_count = info.bank_count[t];
    r.bank_base = info.bank_base[t];
  }
  return r;
}

std::vector<report::DeviceReport> DevicesDocument(Timeline& tl, Recording& rec,
                                                  PeakBuffers& at_peak, uint32_t top, uint32_t nb) {
  std::vector<report::DeviceReport> devices;
  std::set<uint32_t> ids;
  for (const auto& [id, d] : tl.devs) ids.insert(id);
  for (const auto& [id, d] : rec.devices) ids.insert(id);
  for (uint32_t id : ids) {
    const DevInfo& info = rec.devices[id];
    DeviceState& d = tl.devs[id];
    if (d.buckets.empty()) d.buckets.resize(nb);
    report::DeviceReport& dr = devices.emplace_back();
    dr.id = id;
    dr.arch = info.arch;
    dr.unique_id = info.unique_id;
    for (int t = 0; t < proto::kNumMemTypes; ++t)
      if (d.types[static_cast<size_t>(t)].seen)
        dr.types.push_back(
            TypeDocument(t, d.types[static_cast<size_t>(t)], info, at_peak[{id, t}], top, rec));
    for (const DeviceBucket& b : d.buckets) {
      auto& bt = dr.timeline_by_type.emplace_back();
      for (int t = 0; t < proto::kNumMemTypes; ++t)
        if (b.types[static_cast<size_t>(t)] != 0)
          bt[std::string(proto::MemTypeKey(t))] = b.types[static_cast<size_t>(t)];
    }
  }
  return devices;
}

std::vector<report::ProcessReport> ProcessesDocument(const Recording& rec) {
  std::vector<report::ProcessReport> out;
  for (const auto& [row, p] : rec.procs) {
    report::ProcessReport& x = out.emplace_back();
    x.pid = p.pid;
    x.name = p.name;
    x.user = p.user;
    x.cmdline = p.cmdline;
    x.first_seen_ns = p.first_seen_ns;
    x.ended_ns = p.ended_ns;
    x.existing = p.existing;
    x.events = p.events;
    x.allocs = p.allocs;
    x.frees = p.frees;
    x.capture_allocs = p.capture_allocs;
    x.leaked_buffers = p.leaked;
    x.leaked_bytes = p.leaked_bytes;
    for (const auto& [k, v] : p.peak)
      if (v != 0) x.peak_bytes[k.first][std::string(proto::MemTypeKey(k.second))] = v;
    x.ns_pid = p.ns_pid;
    x.container = p.container;
  }
  return out;
}

}  // namespace

bool AnalyzeRecording(const std::string& path, uint32_t top, uint32_t buckets_n,
                      report::Report* out, std::string* error, const std::string& trace_path) {
  Db db;
  Recording rec;
  if (!OpenRecording(path, &db, error) || !ReadRecording(db, path, &rec, error)) return false;
  const uint32_t nb = std::max<uint32_t>(buckets_n, 2);
  // One pass over the events, in the order the daemon applied them.
  Timeline tl(rec, nb);
  TraceWriter trace;
  if (!trace_path.empty()) {
    if (!trace.Open(trace_path, rec.t0, error)) return false;
    tl.trace = &trace;
  }
  Replay replay;
  {
    Stmt s(db, fmt::format("{} ORDER BY seq", EventColumns(rec.has_ops)).c_str());
    if (!s.ok()) {
      *error = fmt::format("{}: cannot read events: {}", path, db.Message());
      return false;
    }
    while (s.Step() == SQLITE_ROW) tl.Add(ReadEvent(s), replay);
  }
  tl.Finish();
  if (!trace_path.empty()) {
    std::map<uint32_t, std::string> arch;
    for (const auto& [id, d] : rec.devices) arch[id] = d.arch;
    std::map<int64_t, std::string> names;
    for (const auto& [row, p] : rec.procs) names[p.pid] = p.name;
    if (!trace.Finish(arch, names, error)) return false;
  }
  PeakBuffers at_peak;
  if (!BuffersAtPeaks(db, tl, rec, &at_peak, error)) {
    *error = fmt::format("{}: {}", path, *error);
    return false;
  }
  report::Report r;
  r.recording = {path, kRecordingSchemaVersion, rec.Meta("host"), rec.Meta("command"), rec.t0,
                 rec.t1, static_cast<double>(rec.t1 - rec.t0) / 1e9, tl.events,
                 rec.MetaI64("events_lost"), tl.unknown_frees, replay.LiveCount(),
                 // The recorder stopped cleanly and the daemon confirmed the stream's end; else
                 // the last batch may be missing (a killed recorder).
                 rec.Meta("complete") == "1", std::nullopt};
  if (rec.meta.count("command_status")) r.recording.command_status = rec.MetaI64("command_status");
  r.devices = DevicesDocument(tl, rec, at_peak, top, nb);
  r.timeline_buckets = nb;
  r.leaks = std::move(tl.leaks);
  r.leaked_bytes = tl.leaked_bytes;
  r.processes = ProcessesDocument(rec);
  std::map<std::pair<uint32_t, int>, uint64_t> type_peaks;
  std::map<std::pair<uint32_t, int>, std::map<OpName, uint64_t>> op_at_peak;
  for (const auto& [id, d] : tl.devs)
    for (int t = 0; t < proto::kNumMemTypes; ++t)
      if (d.types[static_cast<size_t>(t)].seen)
        type_peaks[{id, t}] = d.types[static_cast<size_t>(t)].peak;
  for (const auto& [key, list] : at_peak)
    for (const auto& [op, v] : BytesByOp(list)) op_at_peak[key][op] = v[0];
  r.ops = tl.ops.Report(type_peaks, op_at_peak);
  r.phases = tl.phases.Report();
  r.advice = tl.advisor.Report();
  *out = std::move(r);
  return true;
}

bool LoadReport(const std::string& path, uint32_t top, report::Report* out, std::string* error,
                const std::string& trace_path) {
  // A saved `ttmem report --json` (a baseline kept from an earlier run) reads back as it was.
  // Only a regular file is opened to look: a FIFO planted at the name would block the open
  // (anything else is left to the recording's reader, which says what it is).
  struct stat st {};
  FILE* f = ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) ? std::fopen(path.c_str(), "rb")
                                                                  : nullptr;
  if (f != nullptr) {
    int c = 0;
    while ((c = std::fgetc(f)) == ' ' || c == '\n' || c == '\t' || c == '\r') {
    }
    std::fclose(f);
    if (c == '{') {
      std::ifstream in(path, std::ios::binary);
      const std::string text((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
      std::string why;
      switch (report::FromJsonText(text, out, &why)) {
        case report::ReadResult::kOk:
          return true;
        case report::ReadResult::kNotJson:
          *error = fmt::format(
              "{}: not a ttmem recording, nor a report saved with --json (not valid JSON)", path);
          return false;
        case report::ReadResult::kNotAReport:
          *error = fmt::format("{}: not a report saved with `ttmem report --json`: {}", path, why);
          return false;
      }
    }
  }
  return AnalyzeRecording(path, top, 400, out, error, trace_path);
}

int RunReport(const ReportOptions& o) {
  report::Report r, baseline;
  std::string error;
  if (!AnalyzeRecording(o.input, o.top, 400, &r, &error, o.trace) ||
      (!o.baseline.empty() && !LoadReport(o.baseline, o.top, &baseline, &error, ""))) {
    PrintError(error);
    return kExitUsage;
  }
  if (!o.baseline.empty()) r.comparison = CompareReports(baseline, r, o.max_growth);
  if (!o.html.empty()) {
    const std::string html = RenderReportHtml(r);
    FILE* f = std::fopen(o.html.c_str(), "w");
    if (!f || std::fwrite(html.data(), 1, html.size(), f) != html.size() || std::fclose(f) != 0) {
      PrintError(fmt::format("cannot write {}: {}", o.html, std::strerror(errno)));
      return kExitFailure;
    }
  }
  if (o.json) {
    std::printf("%s\n", report::ToJsonText(r).c_str());
  } else {
    std::string text = RenderReportText(r) + RenderOpsText(r) + RenderPhasesText(r);
    if (o.advise) text += RenderAdviceText(r);
    if (r.comparison) text += RenderComparisonText(*r.comparison);
    std::fputs(text.c_str(), stdout);
    if (!o.html.empty()) std::printf("\nHTML report: %s\n", o.html.c_str());
    if (!o.trace.empty())
      std::printf("Trace (ui.perfetto.dev, chrome://tracing): %s\n", o.trace.c_str());
  }
  return r.comparison && r.comparison->exceeded ? kExitFailure : kExitOk;
}

}  // namespace ttmem::cli
