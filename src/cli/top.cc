// ttmem top — a basic live view (the full monitor is a later issue): a panel line per device with
// DRAM and L1 bars, the process table, and a status line for anomalies and daemon loss.
#include <curses.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/query.h"

namespace ttmem::cli {

void FilterDevices(nlohmann::json* status, const std::vector<uint32_t>& devices);

namespace {

std::atomic<bool> g_quit{false};
void OnSignal(int) {
  g_quit = true;
}

std::optional<uint64_t> Total(const nlohmann::json& m) {
  if (m.contains("total_bytes") && m["total_bytes"].is_number())
    return m["total_bytes"].get<uint64_t>();
  return std::nullopt;
}

void Put(int y, int x, const std::string& s, int cols) {
  if (y >= LINES || x >= cols) return;
  mvaddnstr(y, x, s.c_str(), cols - x);
}

void Draw(const nlohmann::json& s, const std::string& status_line, const TopOptions& o) {
  erase();
  int cols = COLS;
  int y = 0;
  size_t ndev = s["devices"].size(), nproc = s["processes"].size();
  attron(A_REVERSE);
  std::string title =
      fmt::format(" ttmem top   {} device(s)   {} process(es)   every {} ms   q: quit", ndev, nproc,
                  o.refresh_ms);
  title.resize(static_cast<size_t>(std::max(cols, 0)), ' ');
  Put(y++, 0, title, cols);
  attroff(A_REVERSE);
  // Fixed text of a device line is about 74 columns; the two bars share the rest.
  int bar = std::clamp((cols - 74) / 2, 3, 30);
  auto compact = [](uint64_t used, std::optional<uint64_t> total) {
    if (!total) return FormatBytes(used) + "/?";
    double pct =
        *total == 0 ? 0.0 : 100.0 * static_cast<double>(used) / static_cast<double>(*total);
    return fmt::format("{}/{} {:.0f}%", FormatBytes(used), FormatBytes(*total), pct);
  };
  for (const auto& d : s["devices"]) {
    if (y >= LINES - 4) break;
    const auto& m = d["memory"];
    uint64_t dram = m["dram"].value("used_bytes", uint64_t{0});
    uint64_t l1 = m["l1"].value("used_bytes", uint64_t{0});
    std::string arch = d["arch"].is_string() ? d["arch"].get<std::string>() : "?";
    std::string line =
        fmt::format("{:>3} {:<11.11} DRAM [{}] {:<21} L1 [{}] {}", d.value("id", 0), arch,
                    Bar(dram, Total(m["dram"]), bar), compact(dram, Total(m["dram"])),
                    Bar(l1, Total(m["l1"]), bar), compact(l1, Total(m["l1"])));
    Put(y++, 0, line, cols);
  }
  ++y;
  std::vector<std::pair<uint64_t, std::vector<std::string>>> sorted;
  for (const auto& p : s["processes"]) {
    const auto& mem = p["memory"];
    uint64_t total = 0;
    for (const auto& [k, v] : mem.items()) total += v.value("used_bytes", uint64_t{0});
    std::string devs = FormatDeviceList(p["devices"]);
    auto b = [&](const char* k) { return FormatBytes(mem[k].value("used_bytes", uint64_t{0})); };
    sorted.push_back(
        {total,
         {fmt::format("{}", p.value("pid", 0)), Truncate(p.value("user", std::string()), 10),
          Truncate(p.value("name", std::string()), 16), Truncate(devs, 12), b("dram"), b("l1"),
          b("cb"), b("trace"), FormatBytes(total)}});
  }
  // Largest holder first.
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::vector<std::string>> rows;
  for (auto& r : sorted) rows.push_back(std::move(r.second));
  std::string table = RenderTable(
      {">PID", "USER", "COMMAND", "DEVICES", ">DRAM", ">L1", ">CB", ">TRACE", ">TOTAL"}, rows);
  size_t pos = 0;
  bool header = true;
  while (pos < table.size() && y < LINES - 1) {
    size_t nl = table.find('\n', pos);
    if (header) attron(A_BOLD);
    Put(y++, 0, table.substr(pos, nl - pos), cols);
    if (header) attroff(A_BOLD);
    header = false;
    pos = nl + 1;
  }
  attron(A_REVERSE);
  std::string st = status_line;
  st.resize(static_cast<size_t>(std::max(cols, 0)), ' ');
  Put(LINES - 1, 0, st, cols);
  attroff(A_REVERSE);
  refresh();
}

}  // namespace

int RunTop(const TopOptions& o) {
  QueryClient q(o.socket);
  nlohmann::json s;
  std::string error;
  if (!isatty(STDOUT_FILENO)) {
    // Not a terminal (a pipe, CI, a script): print the status table once.
    if (!q.Request("status", &s, &error)) {
      PrintError(error);
      return kExitUsage;
    }
    FilterDevices(&s, o.devices);
    std::string text = RenderStatus(s);
    std::fwrite(text.data(), 1, text.size(), stdout);
    return kExitOk;
  }
  if (!q.Request("status", &s, &error)) {
    PrintError(error);
    return kExitUsage;
  }
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  initscr();
  cbreak();
  noecho();
  keypad(stdscr, TRUE);
  curs_set(0);
  timeout(static_cast<int>(o.refresh_ms));
  nlohmann::json last = s;
  std::string status_line;
  while (!g_quit) {
    nlohmann::json now;
    if (q.Request("status", &now, &error)) {
      FilterDevices(&now, o.devices);
      last = std::move(now);
      const auto& c = last["counters"];
      status_line =
          fmt::format(" daemon ok   unknown frees {}   duplicate allocs {}   dropped events {}",
                      c.value("unknown_frees", 0), c.value("duplicate_allocs", 0),
                      c.value("dropped_events", 0));
    } else {
      status_line = " daemon gone, retrying: " + error;
    }
    Draw(last, status_line, o);
    int ch = getch();
    if (ch == 'q' || ch == 'Q') break;
  }
  endwin();
  return kExitOk;
}

}  // namespace ttmem::cli
