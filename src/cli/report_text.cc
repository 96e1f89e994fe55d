// `ttmem report` as text: the recording, peaks, largest buffers, leaks and processes; then why
// memory was held (ops, phase marks and their growth), the sizing advice (`--advise`) and the
// comparison with a baseline. Everything from the Report (report_model.h); text a client wrote is
// made terminal-safe here.
#include <time.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "base/text.h"
#include "cli/format.h"
#include "cli/report.h"

namespace ttmem::cli {
namespace {

using report::Report;

std::string OpText(const report::Op& op) {
  return op ? base::TerminalSafe(*op) : "(no op)";
}

std::string Share(const std::optional<double>& v) {
  return v ? fmt::format("{:.0f} %", 100.0 * *v) : "-";
}

std::string Pct(uint64_t v, const report::TypeReport& t) {
  if (!t.capacity_bytes || *t.capacity_bytes == 0) return "-";
  return fmt::format("{:.1f}%",
                     100.0 * static_cast<double>(v) / static_cast<double>(*t.capacity_bytes));
}

uint64_t LargestPeak(const report::ProcessReport& p) {
  uint64_t peak = 0;
  for (const auto& [dev, types] : p.peak_bytes)
    for (const auto& [t, v] : types) peak = std::max(peak, v);
  return peak;
}

std::string Header(const Report& r) {
  const report::RecordingFacts& rec = r.recording;
  std::string out =
      fmt::format("ttmem report  {}  host {}  {}  {:.3f} s  {} events ({} lost)\n",
                  base::TerminalSafe(rec.file), base::TerminalSafe(rec.host),
                  ReportUtcTime(rec.started_ns), rec.duration_s, rec.events, rec.events_lost);
  if (!rec.command.empty())
    out += fmt::format(
        "command: {}{}\n", base::TerminalSafe(rec.command),
        rec.command_status ? fmt::format(" (wait status {})", *rec.command_status) : "");
  if (rec.events_lost != 0)
    out += fmt::format("WARNING: {} events were lost while recording; figures below miss them\n",
                       rec.events_lost);
  if (!rec.complete)
    out +=
        "WARNING: the recording did not end cleanly (recorder killed?): the events of its last "
        "quarter second and the count of lost events may be missing\n";
  return out;
}

std::string Peaks(const Report& r) {
  std::string out = "\nPeaks (capture estimates excluded)\n";
  std::vector<std::vector<std::string>> rows;
  for (const report::DeviceReport& d : r.devices)
    for (const report::TypeReport& t : d.types)
      rows.push_back({std::to_string(d.id), t.type, FormatBytes(t.peak_bytes), Pct(t.peak_bytes, t),
                      ReportOffset(r, t.peak_time_ns), std::to_string(t.buffers_at_peak),
                      FormatBytes(t.final_bytes)});
  out += RenderTable({">DEV", "TYPE", ">PEAK", ">OF TOTAL", ">AT", ">BUFFERS", ">AT END"}, rows);
  for (const report::DeviceReport& d : r.devices)
    for (const report::TypeReport& t : d.types) {
      if (t.top_buffers.empty()) continue;
      out += fmt::format("\nDevice {} {} at its peak ({}), largest live buffers:\n", d.id, t.type,
                         FormatBytes(t.peak_bytes));
      std::vector<std::vector<std::string>> b;
      for (const report::PeakBuffer& x : t.top_buffers)
        b.push_back({std::to_string(x.pid), x.name, std::to_string(x.id),
                     fmt::format("0x{:x}", x.address), FormatBytes(x.size)});
      out += RenderTable({">PID", "PROCESS", ">BUFFER ID", ">ADDRESS", ">SIZE"}, b);
    }
  return out;
}

std::string Leaks(const Report& r) {
  std::string out = fmt::format("\nLeaks (live when their process ended): {} buffers, {}\n",
                                r.leaks.size(), FormatBytes(r.leaked_bytes));
  if (r.leaks.empty()) return out;
  std::vector<std::vector<std::string>> l;
  for (const report::Leak& x : r.leaks)
    l.push_back({std::to_string(x.pid), x.name, std::to_string(x.device), x.type,
                 std::to_string(x.id), fmt::format("0x{:x}", x.address), FormatBytes(x.size),
                 ReportOffset(r, x.allocated_ns)});
  return out + RenderTable({">PID", "PROCESS", ">DEV", "TYPE", ">BUFFER ID", ">ADDRESS", ">SIZE",
                            ">ALLOCATED"},
                           l);
}

std::string Processes(const Report& r) {
  std::vector<std::vector<std::string>> p;
  for (const report::ProcessReport& x : r.processes)
    p.push_back({std::to_string(x.pid), x.name, x.user, std::to_string(x.events),
                 std::to_string(x.allocs), std::to_string(x.frees), FormatBytes(LargestPeak(x)),
                 std::to_string(x.leaked_buffers), FormatBytes(x.leaked_bytes),
                 x.ended_ns ? ReportOffset(r, *x.ended_ns) : "running"});
  return "\nProcesses\n" + RenderTable({">PID", "NAME", "USER", ">EVENTS", ">ALLOCS", ">FREES",
                                        ">LARGEST PEAK", ">LEAKED", ">LEAKED BYTES", ">ENDED"},
                                       p);
}

}  // namespace

std::string ReportUtcTime(int64_t ns) {
  time_t s = static_cast<time_t>(ns / 1000000000);
  tm t{};
  gmtime_r(&s, &t);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &t);
  return buf;
}

std::string ReportOffset(const Report& r, int64_t ns) {
  return fmt::format("+{:.3f} s", static_cast<double>(ns - r.recording.started_ns) / 1e9);
}

std::string SignedBytes(int64_t bytes) {
  return (bytes < 0 ? "-" : "+") + FormatBytes(static_cast<uint64_t>(bytes < 0 ? -bytes : bytes));
}

std::string RenderReportText(const Report& r) {
  return Header(r) + Peaks(r) + Leaks(r) + Processes(r);
}

std::string RenderOpsText(const Report& r) {
  if (r.ops.empty()) return "";
  std::vector<std::vector<std::string>> rows;
  for (const report::OpReport& o : r.ops)
    for (const report::OpPeak& p : o.peaks)
      rows.push_back({OpText(o.op), std::to_string(o.allocs), FormatBytes(o.bytes_allocated),
                      std::to_string(p.device), p.type, FormatBytes(p.peak_bytes),
                      FormatBytes(p.bytes_at_type_peak), Share(p.share_of_type_peak)});
  return "\nOps (memory by the scope that allocated it; capture estimates excluded)\n" +
         RenderTable(
             {"OP", ">ALLOCS", ">ALLOCATED", ">DEV", "TYPE", ">OP PEAK", ">AT TYPE PEAK", ">SHARE"},
             rows);
}

std::string RenderPhasesText(const Report& r) {
  const report::PhasesReport& ph = r.phases;
  if (ph.marks_total == 0) return "";
  std::map<std::string, uint64_t> names;
  for (const report::Mark& m : ph.marks) ++names[m.name];
  std::string list;
  for (const auto& [name, n] : names)
    list += fmt::format("{}{} x{}", list.empty() ? "" : ", ", base::TerminalSafe(name), n);
  std::string out = fmt::format("\nPhase marks: {} ({}{})\n", ph.marks_total, list,
                                ph.marks.size() < ph.marks_total ? ", first listed" : "");
  if (ph.growth.empty()) return out;
  std::vector<std::vector<std::string>> rows;
  std::string by_op;
  for (const report::Growth& g : ph.growth) {
    for (const report::TypeGrowth& t : g.by_type) {
      const int64_t lo = t.min_step_bytes, hi = t.max_step_bytes;
      rows.push_back({std::to_string(g.pid), base::TerminalSafe(g.name), std::to_string(g.marks),
                      std::to_string(t.device), t.type, FormatBytes(t.first_bytes),
                      FormatBytes(t.last_bytes), SignedBytes(std::llround(t.per_interval_bytes)),
                      lo == hi ? SignedBytes(lo) + " every time"
                               : SignedBytes(lo) + " .. " + SignedBytes(hi)});
    }
    for (const report::OpGrowth& o : g.by_op)
      by_op += fmt::format("  pid {} '{}': {} {} per interval ({} on device {})\n", g.pid,
                           base::TerminalSafe(g.name), OpText(o.op),
                           SignedBytes(std::llround(o.per_interval_bytes)), o.type, o.device);
  }
  out += "Growth between repeated marks (held by the marking process, first mark to last)\n" +
         RenderTable({">PID", "MARK", ">MARKS", ">DEV", "TYPE", ">FIRST", ">LAST", ">PER INTERVAL",
                      "STEPS"},
                     rows);
  if (!by_op.empty()) out += "By op:\n" + by_op;
  return out;
}

std::string RenderAdviceText(const Report& r) {
  std::string out =
      "\nSizing advice: the smallest settings this run would have fitted (per bank, as "
      "tt-metal's device parameters take them)\n";
  auto where = [](const std::optional<report::PeakAt>& at) {
    return at ? fmt::format(", peak at +{:.3f} s in {} (pid {})", at->offset_s, OpText(at->op),
                            at->pid)
              : std::string(", never used");
  };
  for (const report::Advice& a : r.advice) {
    out += fmt::format("Device {} ({}):\n", a.device, base::TerminalSafe(a.arch));
    for (const auto& [key, region, label] : {std::tuple{"trace_region_size", &a.trace, "DRAM"},
                                             std::tuple{"l1_small_size", &a.l1_small, "L1"}}) {
      if (!region->peak_per_bank_bytes) {
        out += fmt::format("  {:<18} unknown: {}\n", key, report::kNoBanksNote);
        continue;
      }
      const uint64_t size = *region->peak_per_bank_bytes;
      out +=
          fmt::format("  {:<18}= {}  ({} per {} bank x {}, aligned to {} B{}; this run had {})\n",
                      key, size, FormatBytes(size), label, region->bank_count, region->alignment,
                      where(region->at), FormatBytes(region->configured_per_bank_bytes));
    }
    const report::L1Advice& l1 = a.l1;
    if (!l1.bank_size_bytes) {
      out += std::string("  L1 per core: unknown: ") + report::kNoL1BanksNote + "\n";
      continue;
    }
    out += fmt::format(
        "  L1 per core at its peak: {} of {} (L1 buffers {} per bank at their peak, CBs {} per "
        "core at theirs), headroom {}{}\n",
        FormatBytes(l1.peak_per_core_bytes), FormatBytes(*l1.bank_size_bytes),
        FormatBytes(l1.l1_buffers_peak_per_bank_bytes), FormatBytes(l1.cb_peak_per_core_bytes),
        FormatBytes(l1.headroom_per_core_bytes), where(l1.at));
  }
  return out;
}

std::string RenderComparisonText(const report::Comparison& c) {
  std::vector<std::vector<std::string>> rows;
  for (const report::ComparisonRow& x : c.rows)
    rows.push_back(
        {std::to_string(x.device), x.type, x.op ? OpText(*x.op) : "(all)",
         FormatBytes(x.baseline_bytes), FormatBytes(x.bytes),
         !x.growth_pct ? (x.bytes == 0 ? "-" : "new") : fmt::format("{:+.1f} %", *x.growth_pct),
         x.exceeded ? "EXCEEDS" : ""});
  std::string out =
      fmt::format("\nPeaks against the baseline {}{}\n", base::TerminalSafe(c.baseline),
                  !c.max_growth_pct ? std::string(" (no limit: --max-growth PCT makes growth fail)")
                                    : fmt::format(" (limit: +{} %)", *c.max_growth_pct));
  out += RenderTable({">DEV", "TYPE", "OP", ">BASELINE", ">NOW", ">CHANGE", ""}, rows);
  if (c.max_growth_pct)
    out += c.exceeded ? fmt::format("FAILED: a peak grew by more than {} %\n", *c.max_growth_pct)
                      : fmt::format("OK: no peak grew by more than {} %\n", *c.max_growth_pct);
  return out;
}

}  // namespace ttmem::cli
