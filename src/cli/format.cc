#include "cli/format.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/text.h"
#include "model/from_tt_shm.h"
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

std::string FormatDeviceList(std::vector<uint32_t> v) {
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

bool FromShm(const model::Status& s) {
  return s.source == model::kShmSource;
}

// Bytes, or "-" when the source does not count this type (tt-metal's statistics: KERNEL).
std::string Small(const model::Figures& f) {
  return f.used_bytes ? FormatBytes(*f.used_bytes) : "-";
}

std::string Header(const model::Status& s) {
  if (FromShm(s))
    return fmt::format("ttmem status   source: tt-metal's shared-memory statistics in {}\n\n",
                       base::TerminalSafe(s.shm_dir.value_or("?")));
  const model::DaemonInfo d = s.daemon.value_or(model::DaemonInfo{});
  const uint64_t up_s = d.uptime_ms / 1000;
  return fmt::format("ttmem status   daemon pid {}   socket {}   up {:02}:{:02}:{:02}\n\n", d.pid,
                     base::TerminalSafe(d.socket.empty() ? "?" : d.socket), up_s / 3600,
                     up_s / 60 % 60, up_s % 60);
}

std::string DeviceTable(const model::Status& s) {
  std::vector<std::vector<std::string>> rows;
  for (const model::Device& d : s.devices) {
    const model::Memory& m = d.memory;
    auto cell = [&](int t) {
      return FormatUsedOfTotal(m[t].used_bytes.value_or(0), m[t].total_bytes);
    };
    // The PCIe device the chip is reached through (TT_METAL_VISIBLE_DEVICES), "-" if unknown.
    rows.push_back({fmt::format("{}", d.id), d.pcie_id ? fmt::format("{}", *d.pcie_id) : "-",
                    d.arch.value_or("?"), cell(0), cell(1), Small(m[3]), Small(m[4]), Small(m[5]),
                    Small(m[6]), fmt::format("{}", model::BuffersTotal(m)),
                    fmt::format("{}", d.processes.size())});
  }
  if (rows.empty())
    return "No devices reported yet: no process has announced a device or allocated memory.\n";
  return RenderTable({">DEV", ">PCIE", "ARCH", "DRAM used / total", "L1 used / total", ">L1_SMALL",
                      ">TRACE", ">CB", ">KERNEL", ">BUFFERS", ">PROCS"},
                     rows);
}

// Graph-capture estimates: allocations a hook intercepted (no device memory used).
std::string CaptureTable(const model::Status& s) {
  std::vector<std::vector<std::string>> rows;
  for (const model::Device& d : s.devices) {
    if (!d.capture_estimate || model::BuffersTotal(*d.capture_estimate) == 0) continue;
    std::vector<std::string> row = {fmt::format("{}", d.id)};
    for (int t : proto::kShownMemTypes)
      row.push_back(FormatBytes((*d.capture_estimate)[t].used_bytes.value_or(0)));
    rows.push_back(std::move(row));
  }
  if (rows.empty()) return "";
  return "\nCapture estimates (allocations intercepted by a graph-capture hook; no device memory "
         "used):\n" +
         RenderTable({">DEV", ">DRAM", ">L1", ">L1_SMALL", ">TRACE", ">CB", ">KERNEL"}, rows);
}

// A container's id as `docker ps` shows it (12 digits), with the pod's when in Kubernetes.
std::string ContainerCell(const model::Process& p) {
  if (p.container_claimed)
    return "claimed " + base::TerminalSafe(p.container_claimed->substr(0, 12));
  if (!p.container) return "-";
  std::string c = base::TerminalSafe(p.container->substr(0, 12));
  if (p.pod) c += " pod " + base::TerminalSafe(p.pod->substr(0, 8));
  return c;
}

std::string ProcessTable(const model::Status& s) {
  // Containers (issue 18): two more columns when any process runs in a pid namespace or a
  // container of its own.
  const bool contained = std::any_of(
      s.processes.begin(), s.processes.end(),
      [](const model::Process& p) { return p.ns_pid || p.container || p.container_claimed; });
  std::vector<std::vector<std::string>> rows;
  for (const model::Process& p : s.processes) {
    std::string name = base::TerminalSafe(p.name);
    if (p.tag) name += " [" + base::TerminalSafe(*p.tag) + "]";
    if (p.stale) name += " (stale)";
    if (p.unverified) name += " (unverified)";
    const model::Memory& m = p.memory;
    std::vector<std::string> row = {fmt::format("{}", p.pid)};
    if (contained) {
      row.push_back(p.ns_pid ? fmt::format("{}", *p.ns_pid) : "-");
      row.push_back(ContainerCell(p));
    }
    for (std::string cell :
         {Truncate(base::TerminalSafe(p.user), 12), Truncate(name, 28),
          Truncate(FormatDeviceList(p.devices), 16), Small(m[0]), Small(m[1]), Small(m[3]),
          Small(m[4]), Small(m[5]), Small(m[6]), FormatBytes(model::UsedTotal(m))})
      row.push_back(std::move(cell));
    rows.push_back(std::move(row));
  }
  if (rows.empty()) return "\nProcesses:\n  No processes are reporting.\n";
  std::vector<std::string> headers = {">PID"};
  if (contained) {
    headers.push_back(">NS PID");
    headers.push_back("CONTAINER");
  }
  for (const char* h : {"USER", "NAME", "DEVICES", ">DRAM", ">L1", ">L1_SMALL", ">TRACE", ">CB",
                        ">KERNEL", ">TOTAL"})
    headers.push_back(h);
  return "\nProcesses:\n" + RenderTable(headers, rows);
}

std::string ShmFooter(const model::Status& s) {
  const auto stale = std::count_if(s.processes.begin(), s.processes.end(),
                                   [](const model::Process& p) { return p.stale; });
  std::string out = fmt::format(
      "\n{} stale process slot(s): left by a writer that died, or its pid now belongs to "
      "another process; their bytes are still in the totals above.\n",
      stale);
  for (const model::Device& d : s.devices)
    if (d.open_without_report && !d.open_without_report->empty())
      out += fmt::format("Device {} is open in pid(s) [{}] that report nothing here.\n", d.id,
                         fmt::join(*d.open_without_report, ","));
  return out;
}

std::string DaemonFooter(const model::Status& s) {
  const model::Counters c = s.counters.value_or(model::Counters{});
  std::string out = fmt::format(
      "\nAnomalies: unknown frees {}   duplicate allocs {}   dropped events {}   coverage {}   "
      "(live buffers {})\n",
      c.unknown_frees, c.duplicate_allocs, c.dropped_events, c.coverage_anomalies, c.live_buffers);
  for (const model::CoverageAnomaly& a :
       s.coverage_anomalies.value_or(std::vector<model::CoverageAnomaly>{}))
    out += fmt::format(
        "Coverage: pid {} device {} {}: ttmem {}, tt-metal's statistics {} (ttmem misses a path "
        "of this process: docs/tt-metal.md)\n",
        a.pid, a.device, proto::kMemTypeKeys[static_cast<size_t>(a.type)],
        base::FormatBytes(a.native_bytes), base::FormatBytes(a.tt_metal_bytes));
  return out;
}

}  // namespace

std::string RenderStatus(const model::Status& s) {
  return Header(s) + DeviceTable(s) + CaptureTable(s) + ProcessTable(s) +
         (FromShm(s) ? ShmFooter(s) : DaemonFooter(s));
}

}  // namespace ttmem::cli
