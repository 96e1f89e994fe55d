#include "cli/format.h"

#include <algorithm>

#include <fmt/format.h>

#include "base/text.h"
#include "protocol/mem_types.h"

namespace ttmem::cli {

std::string FormatBytesShort(uint64_t bytes) {
  static const char kUnits[] = "BKMGTPE";
  if (bytes < 1024) return std::to_string(bytes);
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 6) {
    v /= 1024;
    ++u;
  }
  return fmt::format("{:.1f}{}", v, kUnits[u]);
}

std::string FormatUsedOfTotal(uint64_t used, std::optional<uint64_t> total) {
  if (!total) return FormatBytes(used) + " / ?";
  double pct = *total == 0 ? 0.0 : 100.0 * static_cast<double>(used) / static_cast<double>(*total);
  return fmt::format("{} / {} ({:.0f}%)", FormatBytes(used), FormatBytes(*total), pct);
}

std::string Bar(uint64_t used, std::optional<uint64_t> total, int width) {
  if (width <= 0) return "";
  if (!total || *total == 0) return std::string(static_cast<size_t>(width), '?');
  double frac = std::min(1.0, static_cast<double>(used) / static_cast<double>(*total));
  int full = static_cast<int>(frac * width + 0.5);
  if (used > 0 && full == 0) full = 1;  // something is used: never draw it as empty
  return std::string(static_cast<size_t>(full), '#') +
         std::string(static_cast<size_t>(width - full), '.');
}

std::string Truncate(const std::string& s, size_t width) {
  if (s.size() <= width) return s;
  if (width == 0) return "";
  return s.substr(0, width - 1) + "~";
}

std::string RenderTable(const std::vector<std::string>& headers,
                        const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w(headers.size());
  std::vector<bool> right(headers.size());
  std::vector<std::string> h(headers.size());
  for (size_t i = 0; i < headers.size(); ++i) {
    right[i] = !headers[i].empty() && headers[i][0] == '>';
    h[i] = base::TerminalSafe(right[i] ? headers[i].substr(1) : headers[i]);
    w[i] = h[i].size();
  }
  // Every cell is made terminal-safe here, whoever filled it (names, command lines, tags).
  std::vector<std::vector<std::string>> safe(rows.size());
  for (size_t r = 0; r < rows.size(); ++r)
    for (const std::string& c : rows[r]) safe[r].push_back(base::TerminalSafe(c));
  for (const auto& r : safe)
    for (size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], r[i].size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t i = 0; i < w.size(); ++i) {
      const std::string& c = i < cells.size() ? cells[i] : std::string();
      std::string pad(w[i] - std::min(w[i], c.size()), ' ');
      out += right[i] ? pad + c : c + pad;
      if (i + 1 < w.size()) out += "  ";
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(h);
  for (const auto& r : safe) out += line(r);
  return out;
}

std::vector<std::string> Chart(const std::vector<double>& values, double max, int width,
                               int height) {
  if (width <= 0 || height <= 0) return {};
  std::vector<std::string> rows(static_cast<size_t>(height),
                                std::string(static_cast<size_t>(width), ' '));
  const size_t n = std::min(values.size(), static_cast<size_t>(width));
  for (size_t i = 0; i < n; ++i) {
    const double v = values[values.size() - n + i];
    const size_t col = static_cast<size_t>(width) - n + i;
    // In thirds of a row: 0 .. 3 * height.
    double frac = max > 0 ? std::clamp(v / max, 0.0, 1.0) : 0.0;
    int thirds = static_cast<int>(frac * 3 * height + 0.5);
    if (v > 0 && thirds == 0) thirds = 1;  // something: never drawn empty
    for (int r = 0; r < height; ++r) {
      int level = thirds - 3 * r;  // this row's share, from the bottom
      char c = level >= 3 ? '#' : level == 2 ? ':' : level == 1 ? '.' : ' ';
      rows[static_cast<size_t>(height - 1 - r)][col] = c;
    }
  }
  return rows;
}

int UsageLevel(double percent) {
  return percent < 60 ? 0 : percent < 85 ? 1 : 2;
}

std::string FormatDeviceList(const nlohmann::json& ids) {
  std::vector<uint32_t> v;
  for (const auto& id : ids)
    if (id.is_number_integer() && id.get<int64_t>() >= 0) v.push_back(id.get<uint32_t>());
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  std::string out;
  for (size_t i = 0; i < v.size();) {
    size_t j = i;
    while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += j == i ? fmt::format("{}", v[i]) : fmt::format("{}-{}", v[i], v[j]);
    i = j + 1;
  }
  return out.empty() ? "-" : out;
}

namespace {

std::optional<uint64_t> OptU64(const nlohmann::json& j) {
  if (j.is_number_unsigned() || j.is_number_integer()) return j.get<uint64_t>();
  return std::nullopt;
}

// A figure of an object, 0 when absent or null (unknown figures are drawn as "-" by Small()).
uint64_t Figure(const nlohmann::json& m, const char* key) {
  if (!m.is_object()) return 0;
  auto it = m.find(key);
  return it != m.end() ? OptU64(*it).value_or(0) : 0;
}

// Bytes, or "-" when the source does not count this type (tt-metal's statistics: KERNEL).
std::string Small(const nlohmann::json& m) {
  if (m.is_object() && m.contains("used_bytes") && m["used_bytes"].is_null()) return "-";
  return FormatBytes(Figure(m, "used_bytes"));
}

}  // namespace

std::string RenderStatus(const nlohmann::json& s) {
  std::string out;
  const auto& d = s.value("daemon", nlohmann::json::object());
  uint64_t up_s = d.value("uptime_ms", uint64_t{0}) / 1000;
  if (s.value("source", std::string()) == "tt-metal-shm")
    out += fmt::format("ttmem status   source: tt-metal's shared-memory statistics in {}\n\n",
                       base::TerminalSafe(s.value("shm_dir", std::string("?"))));
  else
    out += fmt::format("ttmem status   daemon pid {}   socket {}   up {:02}:{:02}:{:02}\n\n",
                       d.value("pid", 0), base::TerminalSafe(d.value("socket", std::string("?"))),
                       up_s / 3600, up_s / 60 % 60, up_s % 60);

  std::vector<std::vector<std::string>> rows;
  for (const auto& dev : s.value("devices", nlohmann::json::array())) {
    const auto& mem = dev["memory"];
    auto cell = [&](const char* key) {
      const auto& m = mem[key];
      return FormatUsedOfTotal(Figure(m, "used_bytes"), OptU64(m["total_bytes"]));
    };
    auto small = [&](const char* key) { return Small(mem[key]); };
    uint64_t buffers = 0;
    for (const auto& [k, m] : mem.items()) buffers += Figure(m, "buffers");
    rows.push_back({fmt::format("{}", dev.value("id", uint64_t{0})),
                    dev["arch"].is_string() ? dev["arch"].get<std::string>() : "?", cell("dram"),
                    cell("l1"), small("l1_small"), small("trace"), small("cb"), small("kernel"),
                    fmt::format("{}", buffers), fmt::format("{}", dev["processes"].size())});
  }
  if (rows.empty()) {
    out += "No devices reported yet: no process has announced a device or allocated memory.\n";
  } else {
    out += RenderTable({">DEV", "ARCH", "DRAM used / total", "L1 used / total", ">L1_SMALL",
                        ">TRACE", ">CB", ">KERNEL", ">BUFFERS", ">PROCS"},
                       rows);
  }

  // Graph-capture estimates: allocations a hook intercepted (no device memory used).
  std::vector<std::vector<std::string>> crows;
  for (const auto& dev : s.value("devices", nlohmann::json::array())) {
    if (!dev.contains("capture_estimate")) continue;
    std::vector<std::string> row = {fmt::format("{}", dev.value("id", uint64_t{0}))};
    uint64_t any = 0;
    for (int t : proto::kShownMemTypes) {
      const std::string key(proto::kMemTypeKeys[static_cast<size_t>(t)]);
      uint64_t b = Figure(dev["capture_estimate"][key], "used_bytes");
      any += Figure(dev["capture_estimate"][key], "buffers");
      row.push_back(FormatBytes(b));
    }
    if (any != 0) crows.push_back(std::move(row));
  }
  if (!crows.empty()) {
    out +=
        "\nCapture estimates (allocations intercepted by a graph-capture hook; no device memory "
        "used):\n";
    out += RenderTable({">DEV", ">DRAM", ">L1", ">L1_SMALL", ">TRACE", ">CB", ">KERNEL"}, crows);
  }

  out += "\nProcesses:\n";
  std::vector<std::vector<std::string>> prows;
  for (const auto& p : s.value("processes", nlohmann::json::array())) {
    const auto& mem = p["memory"];
    uint64_t total = 0;
    for (const auto& [k, m] : mem.items()) total += Figure(m, "used_bytes");
    std::string devs = FormatDeviceList(p["devices"]);
    auto b = [&](const char* key) { return Small(mem[key]); };
    std::string name = base::TerminalSafe(p.value("name", std::string()));
    if (p.contains("tag") && p["tag"].is_string())
      name += " [" + base::TerminalSafe(p["tag"].get<std::string>()) + "]";
    if (p.value("stale", false)) name += " (stale)";
    if (p.value("unverified", false)) name += " (unverified)";
    prows.push_back({fmt::format("{}", p.value("pid", 0)),
                     Truncate(base::TerminalSafe(p.value("user", std::string())), 12),
                     Truncate(name, 28), Truncate(devs, 16), b("dram"), b("l1"), b("l1_small"),
                     b("trace"), b("cb"), b("kernel"), FormatBytes(total)});
  }
  if (prows.empty()) {
    out += "  No processes are reporting.\n";
  } else {
    out += RenderTable({">PID", "USER", "NAME", "DEVICES", ">DRAM", ">L1", ">L1_SMALL", ">TRACE",
                        ">CB", ">KERNEL", ">TOTAL"},
                       prows);
  }
  if (s.value("source", std::string()) == "tt-metal-shm") {
    size_t stale = 0;
    for (const auto& p : s.value("processes", nlohmann::json::array()))
      stale += p.value("stale", false) ? 1 : 0;
    out += fmt::format(
        "\n{} stale process slot(s): left by a writer that died, or its pid now belongs to "
        "another process; their bytes are still in the totals above.\n",
        stale);
    for (const auto& dev : s.value("devices", nlohmann::json::array()))
      if (!dev.value("open_without_report", nlohmann::json::array()).empty())
        out += fmt::format("Device {} is open in pid(s) {} that report nothing here.\n",
                           dev.value("id", uint64_t{0}), dev["open_without_report"].dump());
    return out;
  }
  const auto& c = s.value("counters", nlohmann::json::object());
  out += fmt::format(
      "\nAnomalies: unknown frees {}   duplicate allocs {}   dropped events {}   coverage {}   "
      "(live buffers {})\n",
      c.value("unknown_frees", 0), c.value("duplicate_allocs", 0), c.value("dropped_events", 0),
      c.value("coverage_anomalies", 0), c.value("live_buffers", 0));
  for (const auto& a : s.value("coverage_anomalies", nlohmann::json::array()))
    out += fmt::format(
        "Coverage: pid {} device {} {}: ttmem {}, tt-metal's statistics {} (ttmem misses a path "
        "of this process: docs/tt-metal.md)\n",
        a.value("pid", 0), a.value("device", 0u), a.value("type", std::string()),
        base::FormatBytes(a.value("native_bytes", uint64_t{0})),
        base::FormatBytes(a.value("tt_metal_bytes", uint64_t{0})));
  return out;
}

}  // namespace ttmem::cli
