// `ttmem report --html`: one self-contained page (inline CSS and SVG, no scripts, offline) from the
// Report (report_model.h): the recording, peaks, per device its usage by type and, per type, by
// process with the address map and largest buffers at the peak; then why memory was held (ops,
// growth between marks, advice, the comparison), leaks and processes. Text is escaped here.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/format.h"
#include "cli/report.h"
#include "ledger/ledger.h"

namespace ttmem::cli {

std::string HtmlEscape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '&':
        o += "&amp;";
        break;
      case '"':
        o += "&quot;";
        break;
      case '\'':
        o += "&#39;";
        break;
      default:
        o += c;
    }
  }
  return o;
}

namespace {

std::string Esc(const std::string& s) {
  return HtmlEscape(s);
}

const char* const kPalette[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
                                "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
std::string Colour(size_t i) {
  return kPalette[i % (sizeof kPalette / sizeof kPalette[0])];
}

constexpr int kW = 860, kH = 200, kL = 70, kR = 10, kT = 10, kB = 24;

// Something at a moment of the timeline: a phase mark (a grey line) or an allocation (a small
// triangle under the axis), with what hovering it shows.
struct ChartMark {
  double offset_s = 0;
  std::string title;
  bool phase = false;
};

// Where a column and a value fall in the chart: n columns, values up to ymax.
struct ChartScale {
  size_t n = 0;
  double ymax = 1;
  double X(double i) const {
    return kL + (kW - kL - kR) * (n > 1 ? i / static_cast<double>(n - 1) : 0);
  }
  double Y(double v) const { return kT + (kH - kT - kB) * (1.0 - v / ymax); }
};

// The grid with its byte labels and the time axis.
std::string ChartAxes(const ChartScale& sc, double duration_s) {
  std::string svg;
  for (int g = 0; g <= 4; ++g) {  // grid and y labels
    const double v = sc.ymax * g / 4.0;
    svg += fmt::format(
        "<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#ddd\"/>"
        "<text x=\"{}\" y=\"{:.1f}\" class=\"axis\" text-anchor=\"end\">{}</text>\n",
        kL, kW - kR, sc.Y(v), sc.Y(v), kL - 4, sc.Y(v) + 4, FormatBytes(static_cast<uint64_t>(v)));
  }
  for (int g = 0; g <= 4; ++g)
    svg += fmt::format(
        "<text x=\"{:.1f}\" y=\"{}\" class=\"axis\" text-anchor=\"middle\">{:.2f} s</text>\n",
        sc.X(static_cast<double>(sc.n - 1) * g / 4.0), kH - 6, duration_s * g / 4.0);
  return svg;
}

// The phase lines and the allocations' triangles.
std::string ChartMarks(const ChartScale& sc, const std::vector<ChartMark>& marks,
                       double duration_s) {
  std::string svg;
  for (const ChartMark& m : marks) {
    if (sc.n == 0 || duration_s <= 0) break;
    const double x =
        sc.X(std::clamp(m.offset_s / duration_s, 0.0, 1.0) * static_cast<double>(sc.n - 1));
    if (m.phase)
      svg += fmt::format(
          "<line class=\"mark\" x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{}\" y2=\"{}\" stroke=\"#888\" "
          "stroke-width=\"3\" stroke-opacity=\"0.35\"><title>{}</title></line>\n",
          x, x, kT, kH - kB, Esc(m.title));
    else
      svg += fmt::format(
          "<polygon class=\"op\" points=\"{:.1f},{} {:.1f},{} {:.1f},{}\" fill=\"#333\"><title>{}"
          "</title></polygon>\n",
          x, kH - kB, x - 4, kH - kB + 7, x + 4, kH - kB + 7, Esc(m.title));
  }
  return svg;
}

// A stacked area chart: series[k][i] is layer k at column i. `peak_col` >= 0 marks the peak.
std::string StackedChart(const std::vector<std::string>& names,
                         const std::vector<std::vector<uint64_t>>& series, int peak_col,
                         const std::string& peak_label, double duration_s,
                         const std::vector<size_t>& colours = {},
                         const std::vector<ChartMark>& marks = {}) {
  auto colour = [&](size_t k) { return Colour(k < colours.size() ? colours[k] : k); };
  const size_t n = series.empty() ? 0 : series[0].size();
  std::vector<uint64_t> total(n, 0);
  for (const auto& s : series)
    for (size_t i = 0; i < n; ++i) total[i] += s[i];
  uint64_t maxv = 1;
  for (uint64_t v : total) maxv = std::max(maxv, v);
  const ChartScale sc{n, static_cast<double>(maxv) * 1.1};
  std::string svg = fmt::format(
      "<svg class=\"chart\" viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" "
      "xmlns=\"http://www.w3.org/2000/svg\">\n",
      kW, kH, kW, kH);
  svg += ChartAxes(sc, duration_s);
  std::vector<uint64_t> base(n, 0);
  for (size_t k = 0; k < series.size(); ++k) {
    std::string pts;
    for (size_t i = 0; i < n; ++i)
      pts += fmt::format("{:.1f},{:.1f} ", sc.X(static_cast<double>(i)),
                         sc.Y(static_cast<double>(base[i] + series[k][i])));
    for (size_t i = n; i-- > 0;)
      pts += fmt::format("{:.1f},{:.1f} ", sc.X(static_cast<double>(i)),
                         sc.Y(static_cast<double>(base[i])));
    svg += fmt::format(
        "<polygon points=\"{}\" fill=\"{}\" fill-opacity=\"0.85\"><title>{}</title></polygon>\n",
        pts, colour(k), Esc(names[k]));
    for (size_t i = 0; i < n; ++i) base[i] += series[k][i];
  }
  svg += ChartMarks(sc, marks, duration_s);
  if (peak_col >= 0 && n > 0) {
    const double x = sc.X(peak_col);
    svg += fmt::format(
        "<line class=\"peak\" x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{}\" y2=\"{}\" stroke=\"#c00\" "
        "stroke-dasharray=\"4 3\"/><text x=\"{:.1f}\" y=\"{}\" fill=\"#c00\" class=\"axis\" "
        "text-anchor=\"{}\">{}</text>\n",
        x, x, kT, kH - kB, x + (x > kW / 2 ? -4 : 4), kT + 12, x > kW / 2 ? "end" : "start",
        Esc(peak_label));
  }
  svg += "</svg>\n<div class=\"legend\">";
  for (size_t k = 0; k < names.size(); ++k)
    svg += fmt::format("<span><i style=\"background:{}\"></i>{}</span>", colour(k), Esc(names[k]));
  svg += "</div>\n";
  return svg;
}

using report::Report;
using ColourOf = std::map<int64_t, size_t>;

std::string OpCell(const report::Op& op) {
  return op ? Esc(*op) : "<i>(no op)</i>";
}

std::string Pct(uint64_t v, const report::TypeReport& t) {
  if (!t.capacity_bytes || *t.capacity_bytes == 0) return "-";
  return fmt::format("{:.1f}%",
                     100.0 * static_cast<double>(v) / static_cast<double>(*t.capacity_bytes));
}

std::string HtmlTable(const std::vector<std::string>& headers,
                      const std::vector<std::vector<std::string>>& rows, const char* cls) {
  std::string h = fmt::format("<table class=\"{}\"><tr>", cls);
  for (const auto& x : headers) h += "<th>" + x + "</th>";
  h += "</tr>\n";
  for (const auto& row : rows) {
    h += "<tr>";
    for (size_t i = 0; i < row.size(); ++i)
      h += (i == 0 ? "<td class=l>" : "<td>") + row[i] + "</td>";
    h += "</tr>\n";
  }
  return h + "</table>\n";
}

// The address space of one bank (or the whole range) at the peak, buffers coloured by process.
std::string AddressMap(const report::TypeReport& t, const ColourOf& colour_of) {
  if (t.map_at_peak.empty()) return "";
  uint64_t lo = UINT64_MAX, hi = 0, banks = 1;
  if (t.bank_count && t.capacity_bytes) {
    banks = std::max<uint64_t>(1, *t.bank_count);
    const ledger::BankRange bank = ledger::BankRangeOf(*t.capacity_bytes, banks, t.bank_base);
    lo = bank.lo;
    hi = bank.hi;
  } else {
    for (const report::MapEntry& b : t.map_at_peak) {
      lo = std::min(lo, b.address);
      hi = std::max(hi, b.address + b.size);
    }
  }
  if (hi <= lo) return "";
  const int w = kW, h = 34;
  std::string svg = fmt::format(
      "<svg class=\"map\" viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" "
      "xmlns=\"http://www.w3.org/2000/svg\"><rect x=\"{}\" y=\"2\" width=\"{}\" height=\"18\" "
      "fill=\"#f4f4f4\" stroke=\"#999\"/>\n",
      w, h, w, h, kL, w - kL - kR);
  const double span = static_cast<double>(hi - lo);
  for (const report::MapEntry& b : t.map_at_peak) {
    const uint64_t a = b.address, sz = ledger::PerBankBytes(b.size, banks);
    if (a + sz <= lo || a >= hi) continue;
    const double x0 = kL + (w - kL - kR) * static_cast<double>(std::max(a, lo) - lo) / span;
    const double x1 = kL + (w - kL - kR) * static_cast<double>(std::min(a + sz, hi) - lo) / span;
    auto it = colour_of.find(b.pid);
    svg += fmt::format(
        "<rect x=\"{:.2f}\" y=\"2\" width=\"{:.2f}\" height=\"18\" fill=\"{}\"><title>pid {} "
        "@0x{:x} {}{}</title></rect>\n",
        x0, std::max(0.5, x1 - x0), Colour(it == colour_of.end() ? 9 : it->second), b.pid, a,
        FormatBytes(b.size), b.op ? " " + Esc(*b.op) : "");
  }
  svg += fmt::format(
      "<text x=\"{}\" y=\"32\" class=\"axis\">0x{:x}</text><text x=\"{}\" y=\"32\" "
      "class=\"axis\" text-anchor=\"end\">0x{:x}{}</text></svg>\n",
      kL, lo, w - kR, hi, banks > 1 ? fmt::format(" (one of {} banks)", banks) : "");
  return svg;
}

std::string HtmlHead() {
  return R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ttmem report</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:940px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ccc}h3{font-size:15px;margin:18px 0 4px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:right}
td.l,th.l{text-align:left}.axis{font-size:11px;fill:#555}.legend{font-size:12px;margin:2px 0 10px 70px}
.legend span{margin-right:14px;white-space:nowrap}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
.warn{color:#b00;font-weight:bold}.meta{color:#555;font-size:13px}
</style></head><body>
)";
}

// The recording's line: file, host, time, duration, events, and warnings about what is missing.
std::string HtmlHeader(const report::RecordingFacts& rec) {
  std::string h;
  h += fmt::format(
      "<h1>ttmem report</h1>\n<p class=\"meta\">{} &middot; host {} &middot; {} &middot; {:.3f} s "
      "&middot; {} events &middot; {} lost</p>\n",
      Esc(rec.file), Esc(rec.host), ReportUtcTime(rec.started_ns), rec.duration_s, rec.events,
      rec.events_lost);
  if (!rec.command.empty())
    h += fmt::format("<p class=\"meta\">command: <code>{}</code></p>\n", Esc(rec.command));
  if (rec.events_lost != 0)
    h += fmt::format(
        "<p class=\"warn\">{} events were lost while recording: the figures miss them.</p>\n",
        rec.events_lost);
  if (!rec.complete)
    h += "<p class=\"warn\">The recording did not end cleanly (recorder killed?): the events of "
         "its last quarter second and the count of lost events may be missing.</p>\n";
  return h;
}

std::string HtmlPeaks(const Report& r) {
  std::string h;
  h += "<h2>Peaks</h2>\n<table><tr><th>device</th><th class=l>type</th><th>peak</th><th>of "
       "total</th><th>at</th><th>buffers</th><th>at end</th></tr>\n";
  for (const report::DeviceReport& d : r.devices)
    for (const report::TypeReport& t : d.types)
      h += fmt::format(
          "<tr><td>{}</td><td "
          "class=l>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
          d.id, t.type, FormatBytes(t.peak_bytes), Pct(t.peak_bytes, t),
          ReportOffset(r, t.peak_time_ns), t.buffers_at_peak, FormatBytes(t.final_bytes));
  h += "</table>\n";
  return h;
}

// The marks of one type's chart: the phase marks (what the marking process held of this type
// then), and the allocation of each buffer listed at the peak (its op, process and size).
std::vector<ChartMark> ChartMarks(const Report& r, const report::TypeReport& t, uint32_t dev) {
  std::vector<ChartMark> marks;
  for (const report::Mark& m : r.phases.marks) {
    if (marks.size() >= 200) break;
    uint64_t held = 0;
    for (const report::Held& x : m.held)
      if (x.device == dev && x.type == t.type) held = x.bytes;
    marks.push_back({m.offset_s,
                     fmt::format("mark '{}' by pid {}: it held {} of {} here", m.name, m.pid,
                                 FormatBytes(held), t.type),
                     true});
  }
  for (const report::PeakBuffer& x : t.top_buffers)
    marks.push_back({static_cast<double>(x.allocated_ns - r.recording.started_ns) / 1e9,
                     fmt::format("{}: pid {} ({}) allocated {}", x.op.value_or("(no op)"), x.pid,
                                 x.name, FormatBytes(x.size)),
                     false});
  return marks;
}

// The pids of a type's timeline in the order the JSON document lists them (by their decimal
// text), each once.
std::vector<int64_t> TimelinePids(const report::TypeReport& t) {
  std::vector<int64_t> pids;
  std::set<int64_t> seen;
  for (const report::TimelineBucket& b : t.timeline) {
    std::map<std::string, int64_t> by_text;
    for (const auto& [pid, v] : b.by_pid) by_text.emplace(std::to_string(pid), pid);
    for (const auto& [text, pid] : by_text)
      if (seen.insert(pid).second) pids.push_back(pid);
  }
  return pids;
}

// One memory type of a device: usage by process (peak marked), address space and largest buffers
// at the peak.
std::string HtmlTypeByProcess(const Report& r, const report::TypeReport& t, uint32_t dev,
                              ColourOf& colour_of, size_t nb, double dur) {
  std::string h;
  std::vector<int64_t> pids = TimelinePids(t);
  std::sort(pids.begin(), pids.end(),
            [&](int64_t a, int64_t b) { return colour_of[a] < colour_of[b]; });
  std::vector<std::string> pn;
  std::vector<std::vector<uint64_t>> ps;
  std::vector<size_t> pc;
  std::map<int64_t, std::string> pname;
  for (const report::ProcessReport& p : r.processes) pname[p.pid] = p.name;
  // Layers in the order of colour_of; each keeps its process's colour (pc).
  for (int64_t p : pids) {
    std::vector<uint64_t> s(nb, 0);
    for (size_t i = 0; i < nb && i < t.timeline.size(); ++i) {
      auto v = t.timeline[i].by_pid.find(p);
      s[i] = v == t.timeline[i].by_pid.end() ? 0 : v->second;
    }
    pn.push_back(fmt::format("pid {} {}", p, pname[p]));
    pc.push_back(colour_of[p]);
    ps.push_back(std::move(s));
  }
  const double off = t.peak_offset_s;
  const int col = dur > 0 ? std::clamp(static_cast<int>(off / dur * static_cast<double>(nb)), 0,
                                       static_cast<int>(nb) - 1)
                          : 0;
  h += fmt::format("<h3>{} by process &mdash; peak {} at +{:.3f} s</h3>\n", t.type,
                   FormatBytes(t.peak_bytes), off);
  h += StackedChart(pn, ps, col, fmt::format("peak {}", FormatBytes(t.peak_bytes)), dur, pc,
                    ChartMarks(r, t, dev));
  const std::string map = AddressMap(t, colour_of);
  if (!map.empty()) h += fmt::format("<h3>{} address space at the peak</h3>\n", t.type) + map;
  if (!t.by_op_at_peak.empty()) {
    h += fmt::format(
        "<h3>{} at the peak, by op</h3>\n<table class=\"ops\"><tr><th "
        "class=l>op</th><th>bytes</th><th>buffers</th><th>share of the peak</th></tr>\n",
        t.type);
    for (const report::OpShare& o : t.by_op_at_peak)
      h += fmt::format("<tr><td class=l>{}</td><td>{}</td><td>{}</td><td>{:.0f} %</td></tr>\n",
                       OpCell(o.op), FormatBytes(o.bytes), o.buffers, 100.0 * o.share);
    h += "</table>\n";
  }
  if (!t.top_buffers.empty()) {
    h += "<table><tr><th>pid</th><th class=l>process</th><th class=l>op</th><th>buffer "
         "id</th><th>address</th><th>size</th><th>allocated</th></tr>\n";
    for (const report::PeakBuffer& x : t.top_buffers)
      h += fmt::format(
          "<tr><td>{}</td><td class=l>{}</td><td class=l>{}</td><td>{}</td><td>0x{:x}</td><td>{}"
          "</td><td>{}</td></tr>\n",
          x.pid, Esc(x.name), OpCell(x.op), x.id, x.address, FormatBytes(x.size),
          ReportOffset(r, x.allocated_ns));
    h += "</table>\n";
  }
  return h;
}

std::string HtmlDevice(const Report& r, const report::DeviceReport& d, ColourOf& colour_of,
                       size_t nb, double dur) {
  std::string h;
  h += fmt::format("<h2>Device {} <span class=\"meta\">{}</span></h2>\n", d.id, Esc(d.arch));
  // By type.
  std::vector<std::string> names;
  std::vector<std::vector<uint64_t>> series;
  for (const report::TypeReport& t : d.types) {
    std::vector<uint64_t> s(nb, 0);
    for (size_t i = 0; i < nb && i < d.timeline_by_type.size(); ++i) {
      auto v = d.timeline_by_type[i].find(t.type);
      s[i] = v == d.timeline_by_type[i].end() ? 0 : v->second;
    }
    names.push_back(t.type);
    series.push_back(std::move(s));
  }
  h += "<h3>Usage over time, by memory type</h3>\n" + StackedChart(names, series, -1, "", dur);
  for (const report::TypeReport& t : d.types)
    h += HtmlTypeByProcess(r, t, d.id, colour_of, nb, dur);
  return h;
}

// Why memory was held: ops, growth between repeated marks, sizing advice, the comparison.
std::string HtmlWhy(const Report& r) {
  std::string h;
  if (!r.ops.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const report::OpReport& o : r.ops)
      for (const report::OpPeak& p : o.peaks)
        rows.push_back(
            {OpCell(o.op), std::to_string(o.allocs), FormatBytes(o.bytes_allocated),
             fmt::format("{} {}", p.device, p.type), FormatBytes(p.peak_bytes),
             FormatBytes(p.bytes_at_type_peak),
             p.share_of_type_peak ? fmt::format("{:.0f} %", 100.0 * *p.share_of_type_peak) : "-"});
    h += "<h2 id=\"ops\">Ops</h2>\n<p class=\"meta\">Memory by the scope that allocated it "
         "(ttnn ops, ttmem_scope_push); capture estimates excluded.</p>\n" +
         HtmlTable({"op", "allocs", "allocated", "device, type", "op's peak", "at the type's peak",
                    "share of that peak"},
                   rows, "ops");
  }
  if (!r.phases.growth.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const report::Growth& g : r.phases.growth) {
      for (const report::TypeGrowth& t : g.by_type)
        rows.push_back({fmt::format("pid {} '{}' ({} marks)", g.pid, Esc(g.name), g.marks),
                        fmt::format("{} {}", t.device, t.type), "all", FormatBytes(t.first_bytes),
                        FormatBytes(t.last_bytes),
                        SignedBytes(std::llround(t.per_interval_bytes))});
      for (const report::OpGrowth& o : g.by_op)
        rows.push_back({fmt::format("pid {} '{}'", g.pid, Esc(g.name)),
                        fmt::format("{} {}", o.device, o.type), OpCell(o.op), "", "",
                        SignedBytes(std::llround(o.per_interval_bytes))});
    }
    h += "<h2 id=\"phases\">Growth between repeated marks</h2>\n" +
         HtmlTable({"mark", "device, type", "op", "first", "last", "per interval"}, rows, "growth");
  }
  if (!r.advice.empty())
    h += "<h2 id=\"advice\">Sizing advice</h2>\n<pre>" + Esc(RenderAdviceText(r)) + "</pre>\n";
  if (r.comparison)
    h += "<h2 id=\"comparison\">Against the baseline</h2>\n<pre>" +
         Esc(RenderComparisonText(*r.comparison)) + "</pre>\n";
  return h;
}

std::string HtmlLeaks(const Report& r) {
  std::string h;
  h += fmt::format(
      "<h2 id=\"leaks\">Leaks</h2>\n<p>{} buffers, {} live when their process ended.</p>\n",
      r.leaks.size(), FormatBytes(r.leaked_bytes));
  if (!r.leaks.empty()) {
    h +=
        "<table><tr><th>pid</th><th class=l>process</th><th>device</th><th "
        "class=l>type</th><th>buffer id</th><th>address</th><th>size</th><th>allocated</th></tr>\n";
    size_t n = 0;
    for (const report::Leak& x : r.leaks) {
      if (++n > 1000) break;
      h += fmt::format(
          "<tr><td>{}</td><td class=l>{}</td><td>{}</td><td "
          "class=l>{}</td><td>{}</td><td>0x{:x}</td><td>{}</td><td>{}</td></tr>\n",
          x.pid, Esc(x.name), x.device, x.type, x.id, x.address, FormatBytes(x.size),
          ReportOffset(r, x.allocated_ns));
    }
    h += "</table>\n";
  }
  return h;
}

std::string HtmlProcesses(const Report& r, ColourOf& colour_of) {
  std::string h;
  h += "<h2 id=\"processes\">Processes</h2>\n<table><tr><th>pid</th><th class=l>name</th><th "
       "class=l>user</th><th>events</th><th>allocs</th><th>frees</th><th>leaked</th><th>ended</"
       "th></tr>\n";
  for (const report::ProcessReport& x : r.processes)
    h += fmt::format(
        "<tr><td><i style=\"display:inline-block;width:10px;height:10px;background:{}\"></i> "
        "{}</td><td class=l>{}</td><td "
        "class=l>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
        Colour(colour_of[x.pid]), x.pid, Esc(x.name), Esc(x.user), x.events, x.allocs, x.frees,
        FormatBytes(x.leaked_bytes), x.ended_ns ? ReportOffset(r, *x.ended_ns) : "running");
  h += "</table>\n<p class=\"meta\">Made by <code>ttmem report --html</code>; self-contained, no "
       "scripts or network.</p>\n</body></html>\n";
  return h;
}

}  // namespace

std::string RenderReportHtml(const Report& r) {
  const double dur = r.recording.duration_s;
  // One colour per process, the same in every chart.
  ColourOf colour_of;
  for (const report::ProcessReport& p : r.processes) colour_of.emplace(p.pid, colour_of.size());
  std::string h = HtmlHead() + HtmlHeader(r.recording) + HtmlPeaks(r);
  const size_t nb = r.timeline_buckets;
  for (const report::DeviceReport& d : r.devices)
    if (!d.types.empty()) h += HtmlDevice(r, d, colour_of, nb, dur);
  return h + HtmlWhy(r) + HtmlLeaks(r) + HtmlProcesses(r, colour_of);
}

}  // namespace ttmem::cli
