// The text and HTML forms of `ttmem report` (the HTML: one file, inline CSS and SVG, offline).
#include <time.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "base/text.h"
#include "cli/format.h"
#include "cli/report.h"
#include "ledger/ledger.h"

namespace ttmem::cli {
namespace {

std::string UtcTime(int64_t ns) {
  time_t s = static_cast<time_t>(ns / 1000000000);
  tm t{};
  gmtime_r(&s, &t);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &t);
  return buf;
}

std::string Offset(const nlohmann::json& report, int64_t ns) {
  const int64_t t0 = report["recording"]["started_ns"].get<int64_t>();
  return fmt::format("+{:.3f} s", static_cast<double>(ns - t0) / 1e9);
}

std::string Pct(uint64_t v, const nlohmann::json& type) {
  if (!type.contains("capacity_bytes") || type["capacity_bytes"].get<uint64_t>() == 0) return "-";
  return fmt::format("{:.1f}%", 100.0 * static_cast<double>(v) /
                                    static_cast<double>(type["capacity_bytes"].get<uint64_t>()));
}

}  // namespace

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
  const double ymax = static_cast<double>(maxv) * 1.1;
  auto X = [&](double i) {
    return kL + (kW - kL - kR) * (n > 1 ? i / static_cast<double>(n - 1) : 0);
  };
  auto Y = [&](double v) { return kT + (kH - kT - kB) * (1.0 - v / ymax); };
  std::string svg = fmt::format(
      "<svg class=\"chart\" viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" "
      "xmlns=\"http://www.w3.org/2000/svg\">\n",
      kW, kH, kW, kH);
  for (int g = 0; g <= 4; ++g) {  // grid and y labels
    const double v = ymax * g / 4.0;
    svg += fmt::format(
        "<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#ddd\"/>"
        "<text x=\"{}\" y=\"{:.1f}\" class=\"axis\" text-anchor=\"end\">{}</text>\n",
        kL, kW - kR, Y(v), Y(v), kL - 4, Y(v) + 4, FormatBytes(static_cast<uint64_t>(v)));
  }
  for (int g = 0; g <= 4; ++g)
    svg += fmt::format(
        "<text x=\"{:.1f}\" y=\"{}\" class=\"axis\" text-anchor=\"middle\">{:.2f} s</text>\n",
        X(static_cast<double>(n - 1) * g / 4.0), kH - 6, duration_s * g / 4.0);
  std::vector<uint64_t> base(n, 0);
  for (size_t k = 0; k < series.size(); ++k) {
    std::string pts;
    for (size_t i = 0; i < n; ++i)
      pts += fmt::format("{:.1f},{:.1f} ", X(static_cast<double>(i)),
                         Y(static_cast<double>(base[i] + series[k][i])));
    for (size_t i = n; i-- > 0;)
      pts +=
          fmt::format("{:.1f},{:.1f} ", X(static_cast<double>(i)), Y(static_cast<double>(base[i])));
    svg += fmt::format(
        "<polygon points=\"{}\" fill=\"{}\" fill-opacity=\"0.85\"><title>{}</title></polygon>\n",
        pts, colour(k), Esc(names[k]));
    for (size_t i = 0; i < n; ++i) base[i] += series[k][i];
  }
  for (const ChartMark& m : marks) {
    if (n == 0 || duration_s <= 0) break;
    const double x = X(std::clamp(m.offset_s / duration_s, 0.0, 1.0) * static_cast<double>(n - 1));
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
  if (peak_col >= 0 && n > 0) {
    const double x = X(peak_col);
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

// The address space of one bank (or the whole range) at the peak, buffers coloured by process.
std::string AddressMap(const nlohmann::json& type, const std::map<int64_t, size_t>& colour_of) {
  const auto& map = type["map_at_peak"];
  if (map.empty()) return "";
  uint64_t lo = UINT64_MAX, hi = 0, banks = 1;
  if (type.contains("bank_count") && type.contains("capacity_bytes")) {
    banks = std::max<uint64_t>(1, type["bank_count"].get<uint64_t>());
    const ledger::BankRange bank = ledger::BankRangeOf(type["capacity_bytes"].get<uint64_t>(),
                                                       banks, type["bank_base"].get<uint64_t>());
    lo = bank.lo;
    hi = bank.hi;
  } else {
    for (const auto& b : map) {
      lo = std::min(lo, b[1].get<uint64_t>());
      hi = std::max(hi, b[1].get<uint64_t>() + b[2].get<uint64_t>());
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
  for (const auto& b : map) {
    const uint64_t a = b[1].get<uint64_t>(), sz = ledger::PerBankBytes(b[2].get<uint64_t>(), banks);
    if (a + sz <= lo || a >= hi) continue;
    const double x0 = kL + (w - kL - kR) * static_cast<double>(std::max(a, lo) - lo) / span;
    const double x1 = kL + (w - kL - kR) * static_cast<double>(std::min(a + sz, hi) - lo) / span;
    auto it = colour_of.find(b[0].get<int64_t>());
    svg += fmt::format(
        "<rect x=\"{:.2f}\" y=\"2\" width=\"{:.2f}\" height=\"18\" fill=\"{}\"><title>pid {} "
        "@0x{:x} {}{}</title></rect>\n",
        x0, std::max(0.5, x1 - x0), Colour(it == colour_of.end() ? 9 : it->second),
        b[0].get<int64_t>(), a, FormatBytes(b[2].get<uint64_t>()),
        b.size() > 3 && b[3].is_string() ? " " + Esc(b[3].get<std::string>()) : "");
  }
  svg += fmt::format(
      "<text x=\"{}\" y=\"32\" class=\"axis\">0x{:x}</text><text x=\"{}\" y=\"32\" "
      "class=\"axis\" text-anchor=\"end\">0x{:x}{}</text></svg>\n",
      kL, lo, w - kR, hi, banks > 1 ? fmt::format(" (one of {} banks)", banks) : "");
  return svg;
}

}  // namespace

std::string RenderReportText(const nlohmann::json& r) {
  const auto& rec = r["recording"];
  std::string out =
      fmt::format("ttmem report  {}  host {}  {}  {:.3f} s  {} events ({} lost)\n",
                  base::TerminalSafe(rec["file"].get<std::string>()),
                  base::TerminalSafe(rec["host"].get<std::string>()),
                  UtcTime(rec["started_ns"].get<int64_t>()), rec["duration_s"].get<double>(),
                  rec["events"].get<uint64_t>(), rec["events_lost"].get<int64_t>());
  if (!rec["command"].get<std::string>().empty())
    out += fmt::format("command: {}{}\n", base::TerminalSafe(rec["command"].get<std::string>()),
                       rec.contains("command_status")
                           ? fmt::format(" (wait status {})", rec["command_status"].get<int64_t>())
                           : "");
  if (rec["events_lost"].get<int64_t>() != 0)
    out += fmt::format("WARNING: {} events were lost while recording; figures below miss them\n",
                       rec["events_lost"].get<int64_t>());
  if (!rec.value("complete", true))
    out +=
        "WARNING: the recording did not end cleanly (recorder killed?): the events of its last "
        "quarter second and the count of lost events may be missing\n";
  out += "\nPeaks (capture estimates excluded)\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : r["devices"])
    for (const auto& t : d["types"])
      rows.push_back({std::to_string(d["id"].get<uint32_t>()), t["type"].get<std::string>(),
                      FormatBytes(t["peak_bytes"].get<uint64_t>()),
                      Pct(t["peak_bytes"].get<uint64_t>(), t),
                      Offset(r, t["peak_time_ns"].get<int64_t>()),
                      std::to_string(t["buffers_at_peak"].get<size_t>()),
                      FormatBytes(t["final_bytes"].get<uint64_t>())});
  out += RenderTable({">DEV", "TYPE", ">PEAK", ">OF TOTAL", ">AT", ">BUFFERS", ">AT END"}, rows);
  for (const auto& d : r["devices"])
    for (const auto& t : d["types"]) {
      if (t["top_buffers"].empty()) continue;
      out += fmt::format("\nDevice {} {} at its peak ({}), largest live buffers:\n",
                         d["id"].get<uint32_t>(), t["type"].get<std::string>(),
                         FormatBytes(t["peak_bytes"].get<uint64_t>()));
      std::vector<std::vector<std::string>> b;
      for (const auto& x : t["top_buffers"])
        b.push_back({std::to_string(x["pid"].get<int64_t>()), x["name"].get<std::string>(),
                     std::to_string(x["id"].get<uint64_t>()),
                     fmt::format("0x{:x}", x["address"].get<uint64_t>()),
                     FormatBytes(x["size"].get<uint64_t>())});
      out += RenderTable({">PID", "PROCESS", ">BUFFER ID", ">ADDRESS", ">SIZE"}, b);
    }
  out += fmt::format("\nLeaks (live when their process ended): {} buffers, {}\n", r["leaks"].size(),
                     FormatBytes(r["leaked_bytes"].get<uint64_t>()));
  if (!r["leaks"].empty()) {
    std::vector<std::vector<std::string>> l;
    for (const auto& x : r["leaks"])
      l.push_back({std::to_string(x["pid"].get<int64_t>()), x["name"].get<std::string>(),
                   std::to_string(x["device"].get<uint32_t>()), x["type"].get<std::string>(),
                   std::to_string(x["id"].get<uint64_t>()),
                   fmt::format("0x{:x}", x["address"].get<uint64_t>()),
                   FormatBytes(x["size"].get<uint64_t>()),
                   Offset(r, x["allocated_ns"].get<int64_t>())});
    out += RenderTable(
        {">PID", "PROCESS", ">DEV", "TYPE", ">BUFFER ID", ">ADDRESS", ">SIZE", ">ALLOCATED"}, l);
  }
  out += "\nProcesses\n";
  std::vector<std::vector<std::string>> p;
  for (const auto& x : r["processes"]) {
    uint64_t peak = 0;
    for (const auto& [dev, types] : x["peak_bytes"].items())
      for (const auto& [t, v] : types.items()) peak = std::max(peak, v.get<uint64_t>());
    p.push_back({std::to_string(x["pid"].get<int64_t>()), x["name"].get<std::string>(),
                 x["user"].get<std::string>(), std::to_string(x["events"].get<uint64_t>()),
                 std::to_string(x["allocs"].get<uint64_t>()),
                 std::to_string(x["frees"].get<uint64_t>()), FormatBytes(peak),
                 std::to_string(x["leaked_buffers"].get<uint64_t>()),
                 FormatBytes(x["leaked_bytes"].get<uint64_t>()),
                 x["ended_ns"].is_null() ? "running" : Offset(r, x["ended_ns"].get<int64_t>())});
  }
  out += RenderTable({">PID", "NAME", "USER", ">EVENTS", ">ALLOCS", ">FREES", ">LARGEST PEAK",
                      ">LEAKED", ">LEAKED BYTES", ">ENDED"},
                     p);
  return out;
}

namespace {

using ColourOf = std::map<int64_t, size_t>;

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
std::string HtmlHeader(const nlohmann::json& rec, double dur) {
  std::string h;
  h += fmt::format(
      "<h1>ttmem report</h1>\n<p class=\"meta\">{} &middot; host {} &middot; {} &middot; {:.3f} s "
      "&middot; {} events &middot; {} lost</p>\n",
      Esc(rec["file"].get<std::string>()), Esc(rec["host"].get<std::string>()),
      UtcTime(rec["started_ns"].get<int64_t>()), dur, rec["events"].get<uint64_t>(),
      rec["events_lost"].get<int64_t>());
  if (!rec["command"].get<std::string>().empty())
    h += fmt::format("<p class=\"meta\">command: <code>{}</code></p>\n",
                     Esc(rec["command"].get<std::string>()));
  if (rec["events_lost"].get<int64_t>() != 0)
    h += fmt::format(
        "<p class=\"warn\">{} events were lost while recording: the figures miss them.</p>\n",
        rec["events_lost"].get<int64_t>());
  if (!rec.value("complete", true))
    h += "<p class=\"warn\">The recording did not end cleanly (recorder killed?): the events of "
         "its last quarter second and the count of lost events may be missing.</p>\n";
  return h;
}

std::string HtmlPeaks(const nlohmann::json& r) {
  std::string h;
  // Summary table.
  h += "<h2>Peaks</h2>\n<table><tr><th>device</th><th class=l>type</th><th>peak</th><th>of "
       "total</th><th>at</th><th>buffers</th><th>at end</th></tr>\n";
  for (const auto& d : r["devices"])
    for (const auto& t : d["types"])
      h += fmt::format(
          "<tr><td>{}</td><td "
          "class=l>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
          d["id"].get<uint32_t>(), t["type"].get<std::string>(),
          FormatBytes(t["peak_bytes"].get<uint64_t>()), Pct(t["peak_bytes"].get<uint64_t>(), t),
          Offset(r, t["peak_time_ns"].get<int64_t>()), t["buffers_at_peak"].get<size_t>(),
          FormatBytes(t["final_bytes"].get<uint64_t>()));
  h += "</table>\n";
  return h;
}

std::string OpHtml(const nlohmann::json& op) {
  return op.is_string() ? Esc(op.get<std::string>()) : "<i>(no op)</i>";
}

// The marks of one type's chart: the phase marks (what the marking process held of this type
// then), and the allocation of each buffer listed at the peak (its op, process and size).
std::vector<ChartMark> ChartMarks(const nlohmann::json& r, const nlohmann::json& t, uint32_t dev) {
  std::vector<ChartMark> marks;
  const std::string type = t["type"].get<std::string>();
  if (r.contains("phases"))
    for (const auto& m : r["phases"]["marks"]) {
      if (marks.size() >= 200) break;
      uint64_t held = 0;
      for (const auto& x : m["held"])
        if (x["device"] == dev && x["type"] == type) held = x["bytes"].get<uint64_t>();
      marks.push_back(
          {m["offset_s"].get<double>(),
           fmt::format("mark '{}' by pid {}: it held {} of {} here", m["name"].get<std::string>(),
                       m["pid"].get<int64_t>(), FormatBytes(held), type),
           true});
    }
  const int64_t t0 = r["recording"]["started_ns"].get<int64_t>();
  for (const auto& x : t["top_buffers"])
    marks.push_back(
        {static_cast<double>(x["allocated_ns"].get<int64_t>() - t0) / 1e9,
         fmt::format(
             "{}: pid {} ({}) allocated {}",
             x.value("op", nlohmann::json()).is_string() ? x["op"].get<std::string>() : "(no op)",
             x["pid"].get<int64_t>(), x["name"].get<std::string>(),
             FormatBytes(x["size"].get<uint64_t>())),
         false});
  return marks;
}

// One memory type of a device: usage by process (peak marked), address space and largest buffers
// at the peak.
std::string HtmlTypeByProcess(const nlohmann::json& r, const nlohmann::json& t, uint32_t dev,
                              ColourOf& colour_of, size_t nb, double dur) {
  std::string h;
  const std::string name = t["type"].get<std::string>();
  std::vector<int64_t> pids;
  std::set<int64_t> seen;
  for (const auto& b : t["timeline"])
    for (const auto& [pid, v] : b["by_pid"].items()) {
      const int64_t p = std::stoll(pid);
      if (seen.insert(p).second) pids.push_back(p);
    }
  std::sort(pids.begin(), pids.end(),
            [&](int64_t a, int64_t b) { return colour_of[a] < colour_of[b]; });
  std::vector<std::string> pn;
  std::vector<std::vector<uint64_t>> ps;
  std::vector<size_t> pc;
  std::map<int64_t, std::string> pname;
  for (const auto& p : r["processes"])
    pname[p["pid"].get<int64_t>()] = p["name"].get<std::string>();
  // Layers in the order of colour_of; each keeps its process's colour (pc).
  for (int64_t p : pids) {
    std::vector<uint64_t> s(nb, 0);
    for (size_t i = 0; i < nb && i < t["timeline"].size(); ++i)
      s[i] = t["timeline"][i]["by_pid"].value(std::to_string(p), uint64_t{0});
    pn.push_back(fmt::format("pid {} {}", p, pname[p]));
    pc.push_back(colour_of[p]);
    ps.push_back(std::move(s));
  }
  const double off = t["peak_offset_s"].get<double>();
  const int col = dur > 0 ? std::clamp(static_cast<int>(off / dur * static_cast<double>(nb)), 0,
                                       static_cast<int>(nb) - 1)
                          : 0;
  h += fmt::format("<h3>{} by process &mdash; peak {} at +{:.3f} s</h3>\n", name,
                   FormatBytes(t["peak_bytes"].get<uint64_t>()), off);
  h += StackedChart(pn, ps, col,
                    fmt::format("peak {}", FormatBytes(t["peak_bytes"].get<uint64_t>())), dur, pc,
                    ChartMarks(r, t, dev));
  const std::string map = AddressMap(t, colour_of);
  if (!map.empty()) h += fmt::format("<h3>{} address space at the peak</h3>\n", name) + map;
  if (t.contains("by_op_at_peak") && !t["by_op_at_peak"].empty()) {
    h += fmt::format(
        "<h3>{} at the peak, by op</h3>\n<table class=\"ops\"><tr><th "
        "class=l>op</th><th>bytes</th><th>buffers</th><th>share of the peak</th></tr>\n",
        name);
    for (const auto& o : t["by_op_at_peak"])
      h += fmt::format("<tr><td class=l>{}</td><td>{}</td><td>{}</td><td>{:.0f} %</td></tr>\n",
                       OpHtml(o["op"]), FormatBytes(o["bytes"].get<uint64_t>()),
                       o["buffers"].get<uint64_t>(), 100.0 * o["share"].get<double>());
    h += "</table>\n";
  }
  if (!t["top_buffers"].empty()) {
    h += "<table><tr><th>pid</th><th class=l>process</th><th class=l>op</th><th>buffer "
         "id</th><th>address</th><th>size</th><th>allocated</th></tr>\n";
    for (const auto& x : t["top_buffers"])
      h += fmt::format(
          "<tr><td>{}</td><td class=l>{}</td><td class=l>{}</td><td>{}</td><td>0x{:x}</td><td>{}"
          "</td><td>{}</td></tr>\n",
          x["pid"].get<int64_t>(), Esc(x["name"].get<std::string>()),
          OpHtml(x.value("op", nlohmann::json())), x["id"].get<uint64_t>(),
          x["address"].get<uint64_t>(), FormatBytes(x["size"].get<uint64_t>()),
          Offset(r, x["allocated_ns"].get<int64_t>()));
    h += "</table>\n";
  }
  return h;
}

std::string HtmlDevice(const nlohmann::json& r, const nlohmann::json& d, ColourOf& colour_of,
                       size_t nb, double dur) {
  std::string h;
  h += fmt::format("<h2>Device {} <span class=\"meta\">{}</span></h2>\n", d["id"].get<uint32_t>(),
                   Esc(d["arch"].get<std::string>()));
  // By type.
  std::vector<std::string> names;
  std::vector<std::vector<uint64_t>> series;
  for (const auto& t : d["types"]) {
    const std::string name = t["type"].get<std::string>();
    std::vector<uint64_t> s(nb, 0);
    for (size_t i = 0; i < nb && i < d["timeline_by_type"].size(); ++i)
      s[i] = d["timeline_by_type"][i].value(name, uint64_t{0});
    names.push_back(name);
    series.push_back(std::move(s));
  }
  h += "<h3>Usage over time, by memory type</h3>\n" + StackedChart(names, series, -1, "", dur);
  for (const auto& t : d["types"])
    h += HtmlTypeByProcess(r, t, d["id"].get<uint32_t>(), colour_of, nb, dur);
  return h;
}

std::string HtmlLeaks(const nlohmann::json& r) {
  std::string h;
  h += fmt::format(
      "<h2 id=\"leaks\">Leaks</h2>\n<p>{} buffers, {} live when their process ended.</p>\n",
      r["leaks"].size(), FormatBytes(r["leaked_bytes"].get<uint64_t>()));
  if (!r["leaks"].empty()) {
    h +=
        "<table><tr><th>pid</th><th class=l>process</th><th>device</th><th "
        "class=l>type</th><th>buffer id</th><th>address</th><th>size</th><th>allocated</th></tr>\n";
    size_t n = 0;
    for (const auto& x : r["leaks"]) {
      if (++n > 1000) break;
      h += fmt::format(
          "<tr><td>{}</td><td class=l>{}</td><td>{}</td><td "
          "class=l>{}</td><td>{}</td><td>0x{:x}</td><td>{}</td><td>{}</td></tr>\n",
          x["pid"].get<int64_t>(), Esc(x["name"].get<std::string>()), x["device"].get<uint32_t>(),
          x["type"].get<std::string>(), x["id"].get<uint64_t>(), x["address"].get<uint64_t>(),
          FormatBytes(x["size"].get<uint64_t>()), Offset(r, x["allocated_ns"].get<int64_t>()));
    }
    h += "</table>\n";
  }
  return h;
}

std::string HtmlProcesses(const nlohmann::json& r, ColourOf& colour_of) {
  std::string h;
  h += "<h2 id=\"processes\">Processes</h2>\n<table><tr><th>pid</th><th class=l>name</th><th "
       "class=l>user</th><th>events</th><th>allocs</th><th>frees</th><th>leaked</th><th>ended</"
       "th></tr>\n";
  for (const auto& x : r["processes"])
    h += fmt::format(
        "<tr><td><i style=\"display:inline-block;width:10px;height:10px;background:{}\"></i> "
        "{}</td><td class=l>{}</td><td "
        "class=l>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
        Colour(colour_of[x["pid"].get<int64_t>()]), x["pid"].get<int64_t>(),
        Esc(x["name"].get<std::string>()), Esc(x["user"].get<std::string>()),
        x["events"].get<uint64_t>(), x["allocs"].get<uint64_t>(), x["frees"].get<uint64_t>(),
        FormatBytes(x["leaked_bytes"].get<uint64_t>()),
        x["ended_ns"].is_null() ? "running" : Offset(r, x["ended_ns"].get<int64_t>()));
  h += "</table>\n<p class=\"meta\">Made by <code>ttmem report --html</code>; self-contained, no "
       "scripts or network.</p>\n</body></html>\n";
  return h;
}

}  // namespace

std::string RenderReportHtml(const nlohmann::json& r) {
  const auto& rec = r["recording"];
  const double dur = rec["duration_s"].get<double>();
  // One colour per process, the same in every chart.
  ColourOf colour_of;
  for (const auto& p : r["processes"]) colour_of.emplace(p["pid"].get<int64_t>(), colour_of.size());
  std::string h = HtmlHead() + HtmlHeader(rec, dur) + HtmlPeaks(r);
  const size_t nb = r["timeline_buckets"].get<size_t>();
  for (const auto& d : r["devices"])
    if (!d["types"].empty()) h += HtmlDevice(r, d, colour_of, nb, dur);
  return h + HtmlWhy(r) + HtmlLeaks(r) + HtmlProcesses(r, colour_of);
}

}  // namespace ttmem::cli
