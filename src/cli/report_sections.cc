// The report's sections about why memory was held (issue 17) as text — ops, phase marks and their
// growth, the sizing advice — and the comparison with a baseline recording (the regression gate).
#include <algorithm>
#include <cmath>
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

using nlohmann::json;

std::string OpText(const json& op) {
  return op.is_string() ? base::TerminalSafe(op.get<std::string>()) : "(no op)";
}

std::string Signed(int64_t bytes) {
  return (bytes < 0 ? "-" : "+") + FormatBytes(static_cast<uint64_t>(bytes < 0 ? -bytes : bytes));
}

std::string Share(const json& v) {
  return v.is_number() ? fmt::format("{:.0f} %", 100.0 * v.get<double>()) : "-";
}

}  // namespace

std::string RenderOpsText(const json& r) {
  if (!r.contains("ops") || r["ops"].empty()) return "";
  std::vector<std::vector<std::string>> rows;
  for (const auto& o : r["ops"])
    for (const auto& p : o["peaks"])
      rows.push_back({OpText(o["op"]), std::to_string(o["allocs"].get<uint64_t>()),
                      FormatBytes(o["bytes_allocated"].get<uint64_t>()),
                      std::to_string(p["device"].get<uint32_t>()), p["type"].get<std::string>(),
                      FormatBytes(p["peak_bytes"].get<uint64_t>()),
                      FormatBytes(p["bytes_at_type_peak"].get<uint64_t>()),
                      Share(p["share_of_type_peak"])});
  return "\nOps (memory by the scope that allocated it; capture estimates excluded)\n" +
         RenderTable(
             {"OP", ">ALLOCS", ">ALLOCATED", ">DEV", "TYPE", ">OP PEAK", ">AT TYPE PEAK", ">SHARE"},
             rows);
}

std::string RenderPhasesText(const json& r) {
  if (!r.contains("phases") || r["phases"]["marks_total"].get<uint64_t>() == 0) return "";
  const json& ph = r["phases"];
  std::map<std::string, uint64_t> names;
  for (const auto& m : ph["marks"]) ++names[m["name"].get<std::string>()];
  std::string list;
  for (const auto& [name, n] : names)
    list += fmt::format("{}{} x{}", list.empty() ? "" : ", ", base::TerminalSafe(name), n);
  std::string out =
      fmt::format("\nPhase marks: {} ({}{})\n", ph["marks_total"].get<uint64_t>(), list,
                  ph["marks_listed"] < ph["marks_total"] ? ", first listed" : "");
  if (ph["growth"].empty()) return out;
  std::vector<std::vector<std::string>> rows;
  std::string by_op;
  for (const auto& g : ph["growth"]) {
    for (const auto& t : g["by_type"]) {
      const int64_t lo = t["min_step_bytes"].get<int64_t>(),
                    hi = t["max_step_bytes"].get<int64_t>();
      rows.push_back({std::to_string(g["pid"].get<int64_t>()),
                      base::TerminalSafe(g["name"].get<std::string>()),
                      std::to_string(g["marks"].get<uint64_t>()),
                      std::to_string(t["device"].get<uint32_t>()), t["type"].get<std::string>(),
                      FormatBytes(t["first_bytes"].get<uint64_t>()),
                      FormatBytes(t["last_bytes"].get<uint64_t>()),
                      Signed(std::llround(t["per_interval_bytes"].get<double>())),
                      lo == hi ? Signed(lo) + " every time" : Signed(lo) + " .. " + Signed(hi)});
    }
    for (const auto& o : g["by_op"])
      by_op +=
          fmt::format("  pid {} '{}': {} {} per interval ({} on device {})\n",
                      g["pid"].get<int64_t>(), base::TerminalSafe(g["name"].get<std::string>()),
                      OpText(o["op"]), Signed(std::llround(o["per_interval_bytes"].get<double>())),
                      o["type"].get<std::string>(), o["device"].get<uint32_t>());
  }
  out += "Growth between repeated marks (held by the marking process, first mark to last)\n" +
         RenderTable({">PID", "MARK", ">MARKS", ">DEV", "TYPE", ">FIRST", ">LAST", ">PER INTERVAL",
                      "STEPS"},
                     rows);
  if (!by_op.empty()) out += "By op:\n" + by_op;
  return out;
}

std::string RenderAdviceText(const json& r) {
  std::string out =
      "\nSizing advice: the smallest settings this run would have fitted (per bank, as "
      "tt-metal's device parameters take them)\n";
  auto where = [](const json& d) {
    return d.contains("op")
               ? fmt::format(", peak at +{:.3f} s in {} (pid {})", d["peak_offset_s"].get<double>(),
                             OpText(d["op"]), d["pid"].get<int64_t>())
               : std::string(", never used");
  };
  for (const auto& a : r["advice"]) {
    out += fmt::format("Device {} ({}):\n", a["device"].get<uint32_t>(),
                       base::TerminalSafe(a["arch"].get<std::string>()));
    for (const auto& [key, detail, label] : {std::tuple{"trace_region_size", "trace", "DRAM"},
                                             std::tuple{"l1_small_size", "l1_small", "L1"}}) {
      const json& d = a[detail];
      if (a[key].is_null()) {
        out += fmt::format("  {:<18} unknown: {}\n", key, d["note"].get<std::string>());
        continue;
      }
      out +=
          fmt::format("  {:<18}= {}  ({} per {} bank x {}, aligned to {} B{}; this run had {})\n",
                      key, a[key].get<uint64_t>(), FormatBytes(a[key].get<uint64_t>()), label,
                      d["bank_count"].get<uint32_t>(), d["alignment"].get<uint64_t>(), where(d),
                      FormatBytes(d["configured_per_bank_bytes"].get<uint64_t>()));
    }
    const json& l1 = a["l1"];
    if (l1.contains("note")) {
      out += "  L1 per core: unknown: " + l1["note"].get<std::string>() + "\n";
      continue;
    }
    out += fmt::format(
        "  L1 per core at its peak: {} of {} (L1 buffers {} per bank at their peak, CBs {} per "
        "core at theirs), headroom {}{}\n",
        FormatBytes(l1["peak_per_core_bytes"].get<uint64_t>()),
        FormatBytes(l1["bank_size_bytes"].get<uint64_t>()),
        FormatBytes(l1["l1_buffers_peak_per_bank_bytes"].get<uint64_t>()),
        FormatBytes(l1["cb_peak_per_core_bytes"].get<uint64_t>()),
        FormatBytes(l1["headroom_per_core_bytes"].get<uint64_t>()), where(l1));
  }
  return out;
}

report::Comparison CompareReports(const report::Report& baseline, const report::Report& now,
                                  std::optional<double> max_growth_pct) {
  // (device, type, op) -> {baseline, now}; op "" with has_op false: the type's peak.
  struct Key {
    uint32_t device;
    std::string type;
    bool has_op;
    std::string op;
    bool operator<(const Key& o) const {
      return std::tie(device, type, has_op, op) < std::tie(o.device, o.type, o.has_op, o.op);
    }
  };
  std::map<Key, std::array<std::optional<uint64_t>, 2>> rows;
  auto collect = [&](const report::Report& r, size_t side) {
    for (const report::DeviceReport& d : r.devices)
      for (const report::TypeReport& t : d.types)
        rows[{d.id, t.type, false, ""}][side] = t.peak_bytes;
    for (const report::OpReport& o : r.ops) {
      if (!o.op) continue;  // memory outside any scope: in the type's row
      for (const report::OpPeak& p : o.peaks)
        rows[{p.device, p.type, true, *o.op}][side] = p.peak_bytes;
    }
  };
  collect(baseline, 0);
  collect(now, 1);
  report::Comparison out{baseline.recording.file, max_growth_pct, {}, false};
  for (const auto& [k, v] : rows) {
    // Per op only where both recordings name it; a type in either.
    if (k.has_op && (!v[0] || !v[1])) continue;
    report::ComparisonRow row{k.device,         k.type,       std::nullopt, v[0].value_or(0),
                              v[1].value_or(0), std::nullopt, false};
    if (row.baseline_bytes != 0)
      row.growth_pct = 100.0 *
                       (static_cast<double>(row.bytes) - static_cast<double>(row.baseline_bytes)) /
                       static_cast<double>(row.baseline_bytes);
    row.exceeded = max_growth_pct && row.bytes > row.baseline_bytes &&
                   (row.baseline_bytes == 0 || *row.growth_pct > *max_growth_pct);
    out.exceeded = out.exceeded || row.exceeded;
    if (k.has_op) row.op = k.op;
    out.rows.push_back(std::move(row));
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

namespace {

std::string Esc(const std::string& s) {
  return HtmlEscape(s);
}

std::string OpCell(const json& op) {
  return op.is_string() ? Esc(op.get<std::string>()) : "<i>(no op)</i>";
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

}  // namespace

std::string HtmlWhy(const json& r) {
  std::string h;
  if (r.contains("ops") && !r["ops"].empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& o : r["ops"])
      for (const auto& p : o["peaks"])
        rows.push_back(
            {OpCell(o["op"]), std::to_string(o["allocs"].get<uint64_t>()),
             FormatBytes(o["bytes_allocated"].get<uint64_t>()),
             fmt::format("{} {}", p["device"].get<uint32_t>(), p["type"].get<std::string>()),
             FormatBytes(p["peak_bytes"].get<uint64_t>()),
             FormatBytes(p["bytes_at_type_peak"].get<uint64_t>()), Share(p["share_of_type_peak"])});
    h += "<h2 id=\"ops\">Ops</h2>\n<p class=\"meta\">Memory by the scope that allocated it "
         "(ttnn ops, ttmem_scope_push); capture estimates excluded.</p>\n" +
         HtmlTable({"op", "allocs", "allocated", "device, type", "op's peak", "at the type's peak",
                    "share of that peak"},
                   rows, "ops");
  }
  if (r.contains("phases") && !r["phases"]["growth"].empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& g : r["phases"]["growth"]) {
      for (const auto& t : g["by_type"])
        rows.push_back(
            {fmt::format("pid {} '{}' ({} marks)", g["pid"].get<int64_t>(),
                         Esc(g["name"].get<std::string>()), g["marks"].get<uint64_t>()),
             fmt::format("{} {}", t["device"].get<uint32_t>(), t["type"].get<std::string>()), "all",
             FormatBytes(t["first_bytes"].get<uint64_t>()),
             FormatBytes(t["last_bytes"].get<uint64_t>()),
             Signed(std::llround(t["per_interval_bytes"].get<double>()))});
      for (const auto& o : g["by_op"])
        rows.push_back(
            {fmt::format("pid {} '{}'", g["pid"].get<int64_t>(), Esc(g["name"].get<std::string>())),
             fmt::format("{} {}", o["device"].get<uint32_t>(), o["type"].get<std::string>()),
             OpCell(o["op"]), "", "", Signed(std::llround(o["per_interval_bytes"].get<double>()))});
    }
    h += "<h2 id=\"phases\">Growth between repeated marks</h2>\n" +
         HtmlTable({"mark", "device, type", "op", "first", "last", "per interval"}, rows, "growth");
  }
  if (r.contains("advice") && !r["advice"].empty())
    h += "<h2 id=\"advice\">Sizing advice</h2>\n<pre>" + Esc(RenderAdviceText(r)) + "</pre>\n";
  report::Report typed;  // the comparison, read back (the renderers move onto the model next)
  std::string why;
  if (r.contains("comparison") && report::FromJson(r, &typed, &why) && typed.comparison)
    h += "<h2 id=\"comparison\">Against the baseline</h2>\n<pre>" +
         Esc(RenderComparisonText(*typed.comparison)) + "</pre>\n";
  return h;
}

}  // namespace ttmem::cli
