// `ttmem top`'s views (top_views.h).
#include "cli/top_views.h"

#include <curses.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "base/text.h"
#include "cli/format.h"
#include "cli/top_layout.h"
#include "model/status_json.h"
#include "protocol/mem_types.h"

namespace ttmem::cli::top {

void Put(int y, int x, const std::string& s, int attr) {
  if (y < 0 || y >= LINES || x >= COLS) return;
  if (attr) attron(attr);
  // Whatever reaches the screen is terminal-safe (names, command lines, tags come from others).
  mvaddnstr(y, x, base::TerminalSafe(s).c_str(), COLS - x);
  if (attr) attroff(attr);
}

void FillLine(int y, const std::string& s, int attr) {
  std::string line = base::TerminalSafe(s);
  line.resize(static_cast<size_t>(std::max(COLS, 0)), ' ');
  Put(y, 0, line, attr);
}

namespace {

int LevelAttr(const State& st, double pct) {
  if (!st.color) return 0;
  return COLOR_PAIR(kGreen + UsageLevel(pct));
}

// "[####....]  45% 5.4G/12.0G"; the bar in the usage colour. Returns the columns used.
int DrawBar(const State& st, int y, int x, const model::Figures& m, int width, bool wide,
            int max_tail = 1 << 20) {
  const uint64_t used = Used(m);
  const auto total = Total(m);
  const double pct = Percent(used, total);
  Put(y, x, "[");
  Put(y, x + 1, Bar(used, total, width), total ? LevelAttr(st, pct) : 0);
  auto b = [&](uint64_t v) { return wide ? FormatBytes(v) : FormatBytesShort(v); };
  std::string tail =
      total ? fmt::format("] {:>3.0f}% {:>{}}/{}", pct, b(used), wide ? 10 : 6, b(*total))
            : fmt::format("]   ? {:>{}}/?", b(used), wide ? 10 : 6);
  // The layout keeps 20 (28 wide) columns for them and a space after: a rare longer one (used
  // and total both 1000 to 1023.9 of their unit) loses its last characters, not the next bar.
  Put(y, x + 1 + width, tail.substr(0, static_cast<size_t>(max_tail)));
  return 1 + width + static_cast<int>(tail.size());
}

int DrawChart(const State& st, int y, int rows_per_metric) {
  uint64_t dram_total = 0, l1_total = 0;
  for (const model::Device& d : st.status.devices) {
    dram_total += Total(d.memory[0]).value_or(0);
    l1_total += Total(d.memory[1]).value_or(0);
  }
  std::vector<double> dram, l1;
  for (const auto& [t, v] : st.history) {
    dram.push_back(v.first);
    l1.push_back(v.second);
  }
  const int width = std::max(COLS - 10, 1);
  auto max_of = [](const std::vector<double>& v, uint64_t total) {
    if (total != 0) return static_cast<double>(total);
    double m = 0;
    for (double x : v) m = std::max(m, x);
    return m;
  };
  Put(y++, 0,
      fmt::format("History of the devices shown, one column a second, {} s (scale: {})",
                  std::min<size_t>(dram.size(), static_cast<size_t>(width)),
                  dram_total ? "capacity" : "peak"),
      A_BOLD);
  for (auto [label, values, total] :
       {std::tuple{"DRAM", &dram, dram_total}, std::tuple{"L1", &l1, l1_total}}) {
    auto chart = Chart(*values, max_of(*values, total), width, rows_per_metric);
    for (size_t r = 0; r < chart.size(); ++r) {
      Put(y, 0, r == 0 ? fmt::format("{:<8}|", label) : "        |");
      Put(y++, 9, chart[r], st.color ? COLOR_PAIR(kTitle) : 0);
    }
  }
  return y;
}

// The device panels from line 1, at the layout's columns; returns the next line.
int DrawDevicePanels(const State& st, const MainLayout& layout) {
  const std::vector<model::Device>& devices = st.status.devices;
  int y = 1;
  for (size_t i = 0; i < layout.devices_shown; ++i) {
    const model::Device& d = devices[i];
    const model::Memory& m = d.memory;
    Put(y, 0, fmt::format("{:>3} {:<11.11}", d.id, d.arch.value_or("?")));
    Put(y, layout.dram_bar_x - 6, "DRAM");
    DrawBar(st, y, layout.dram_bar_x - 1, model::Of(m, proto::MemType::kDram), layout.bar_width,
            layout.wide_figures, layout.l1_label_x - 1 - (layout.dram_bar_x + layout.bar_width));
    if (layout.l1_bar) {
      Put(y, layout.l1_label_x, "L1");
      DrawBar(st, y, layout.l1_bar_x - 1, model::Of(m, proto::MemType::kL1), layout.bar_width,
              layout.wide_figures);
    }
    ++y;
    if (layout.full) {
      std::string line = "    ";
      for (int t : {3, 4, 5, 6}) {  // L1_SMALL, TRACE, CB, KERNEL
        auto total = Total(m[t]);
        const uint64_t used = Used(m[t]);
        line += fmt::format(
            "{} {}{}  ", proto::kMemTypeLabels[t], FormatBytesShort(used),
            total ? fmt::format("/{} {:.0f}%", FormatBytesShort(*total), Percent(used, total))
                  : "");
      }
      line += fmt::format("procs {}", d.processes.size());
      Put(y++, 0, line);
    }
  }
  if (layout.more_devices)
    Put(y++, 0,
        fmt::format("    ... {} more device(s): enlarge the terminal or pick with -d N",
                    devices.size() - layout.devices_shown),
        A_DIM);
  return y;
}

// The process table from line y; narrow screens (80 columns): short units and tighter text.
void DrawProcessTable(State& st, const MainLayout& layout, const std::vector<ProcRow>& rows,
                      int y) {
  const bool narrow = layout.narrow;
  auto b = [&](uint64_t v) { return narrow ? FormatBytesShort(v) : FormatBytes(v); };
  std::vector<std::vector<std::string>> cells;
  for (const auto& r : rows)
    cells.push_back({std::to_string(r.pid), Truncate(r.user, narrow ? 7 : 12),
                     Truncate(r.name, narrow ? 15 : 24), Truncate(r.devices, narrow ? 6 : 16),
                     b(r.dram), b(r.l1), b(r.cb), b(r.trace), b(r.total)});
  std::string table = RenderTable(
      {">PID", "USER", "COMMAND", "DEVICES", ">DRAM", ">L1", ">CB", ">TRACE", ">TOTAL"}, cells);
  std::vector<std::string> lines;
  for (size_t pos = 0; pos < table.size();) {
    size_t nl = table.find('\n', pos);
    lines.push_back(table.substr(pos, nl - pos));
    pos = nl + 1;
  }
  FillLine(y++, lines[0], A_BOLD | A_UNDERLINE);
  const size_t visible = layout.table_rows;
  if (st.selected >= rows.size()) st.selected = rows.empty() ? 0 : rows.size() - 1;
  if (st.selected < st.scroll) st.scroll = st.selected;
  if (st.selected >= st.scroll + visible) st.scroll = st.selected - visible + 1;
  for (size_t i = st.scroll; i < rows.size() && y < LINES - 1; ++i)
    FillLine(y++, lines[i + 1], i == st.selected ? A_REVERSE : 0);
  if (rows.empty()) Put(y, 0, st.filter.empty() ? "  (no processes)" : "  (none match the filter)");
}

void DrawMain(State& st) {
  const size_t ndev = st.status.devices.size();
  std::vector<ProcRow> rows = Rows(st);
  FillLine(
      0,
      fmt::format(" ttmem top   {} device(s)   {} process(es)   sort {}{}   {}h: help  q: quit",
                  ndev, rows.size(), kSortNames[st.sort], st.reverse ? " (reversed)" : "",
                  st.filter.empty() ? "" : "filter '" + st.filter + "'   "),
      A_REVERSE);
  const MainLayout layout = LayoutMain(LINES, COLS, ndev);
  int y = DrawDevicePanels(st, layout);
  if (layout.chart_rows > 0) y = DrawChart(st, y, layout.chart_rows);
  DrawProcessTable(st, layout, rows, y);
}

// Lines of a rendered table from `y`, at most `count` of them (the header first, in bold if asked).
void PutTable(int y, const std::string& table, size_t count, bool bold_head = false) {
  size_t pos = 0;
  for (size_t i = 0; i < count && pos < table.size(); ++i) {
    const size_t nl = table.find('\n', pos);
    Put(y + static_cast<int>(i), 0, table.substr(pos, nl - pos), i == 0 && bold_head ? A_BOLD : 0);
    pos = nl == std::string::npos ? table.size() : nl + 1;
  }
}

// The detail's live memory by op (ttmem_scope_push; ttnn op names under tt-metal), largest first.
void DrawDetailOps(const model::BuffersReply& b, const DetailLayout& l) {
  if (l.by_op_y >= 0) {
    std::vector<std::vector<std::string>> rows;
    for (size_t i = 0; i < l.op_rows; ++i)
      rows.push_back({b.by_op[i].op ? Truncate(*b.by_op[i].op, 40) : "(no op)",
                      FormatBytes(b.by_op[i].bytes), std::to_string(b.by_op[i].buffers)});
    Put(l.by_op_y, 0, "Live memory by op:", A_BOLD);
    PutTable(l.by_op_y + 1, RenderTable({"OP", ">BYTES", ">BUFFERS"}, rows), 1 + l.op_rows);
  }
}

// The detail's largest live buffers.
void DrawDetailBuffers(const model::BuffersReply& b, const DetailLayout& l) {
  if (l.buffers_y >= 0) {
    std::vector<std::vector<std::string>> bufs;
    for (size_t i = 0; i < l.buffer_rows; ++i) {
      const model::BufferRow& r = b.buffers[i];
      bufs.push_back({std::to_string(r.device), r.type, std::to_string(r.id),
                      fmt::format("{:#x}", r.address), FormatBytes(r.size),
                      Truncate(r.op.value_or(""), 32), r.capture ? "capture" : ""});
    }
    Put(l.buffers_y, 0, fmt::format("Largest live buffers ({} live in all):", b.live_buffers),
        A_BOLD);
    PutTable(l.buffers_y + 1,
             RenderTable({">DEVICE", "TYPE", ">ID", ">ADDRESS", ">SIZE", "OP", ""}, bufs),
             1 + l.buffer_rows);
  }
}

// The detail of one process: where each part goes is LayoutDetail's (top_layout.h).
void DrawDetail(State& st) {
  const model::Process* proc = st.status.FindProcess(static_cast<pid_t>(st.detail_pid));
  FillLine(0,
           fmt::format(" ttmem top   process {}   Esc: back   k/K: SIGTERM/SIGKILL   q: quit",
                       st.detail_pid),
           A_REVERSE);
  if (proc == nullptr) {
    Put(1, 0, fmt::format("Process {} is gone (its memory was reclaimed).", st.detail_pid));
    return;
  }
  Put(1, 0,
      fmt::format("{}  user {}  tag {}  cmd: {}", proc->name, proc->user, proc->tag.value_or("-"),
                  proc->cmdline));
  const model::ProcessCounters& c = proc->counters;
  Put(2, 0,
      fmt::format("unknown frees {}   duplicate allocs {}   dropped events {}", c.unknown_frees,
                  c.duplicate_allocs, c.dropped_events));
  // Per device and type, from the device entries.
  std::vector<std::vector<std::string>> cells;
  for (const model::Device& d : st.status.devices)
    for (const model::DeviceProcess& e : d.processes) {
      if (e.pid != st.detail_pid) continue;
      std::vector<std::string> row = {std::to_string(d.id)};
      for (int t : proto::kShownMemTypes) row.push_back(FormatBytes(Used(e.memory[t])));
      cells.push_back(std::move(row));
    }
  // Another user's buffers are not shown to us (ttmemd refuses; the totals above stay).
  const model::BuffersReply& b = st.detail_buffers;
  const bool refused = b.error.has_value();
  const DetailLayout l =
      LayoutDetail(LINES, cells.size(), b.by_op.size(), b.buffers.size(), refused);
  PutTable(l.device_y,
           RenderTable({">DEVICE", ">DRAM", ">L1", ">L1_SMALL", ">TRACE", ">CB", ">KERNEL"}, cells),
           1 + l.device_rows, /*bold_head=*/true);
  if (l.refusal_y >= 0)
    Put(l.refusal_y, 0,
        Truncate(base::TerminalSafe("Buffers: " + *b.error),
                 static_cast<size_t>(std::max(COLS - 1, 1))));
  DrawDetailOps(b, l);
  DrawDetailBuffers(b, l);
  if (l.chart_y < 0) return;
  // Its own history: all memory types together.
  std::vector<double> values;
  for (const auto& [pid, samples] : st.detail_history.processes)
    for (const model::HistorySample& sample : samples) {
      double sum = 0;
      for (uint64_t v : sample.used) sum += static_cast<double>(v);
      values.push_back(sum);
    }
  double peak = 0;
  for (double v : values) peak = std::max(peak, v);
  int y = l.chart_y;
  Put(y++, 0,
      fmt::format("Its memory over the last {} s (peak {}):", values.size(),
                  FormatBytes(static_cast<uint64_t>(peak))),
      A_BOLD);
  for (const std::string& row : Chart(values, peak, std::max(COLS - 1, 1), l.chart_rows))
    Put(y++, 0, row, st.color ? COLOR_PAIR(kTitle) : 0);
}

void DrawFragmentation(const State& st) {
  const std::vector<model::Device>& devices = st.status.devices;
  if (devices.empty()) {
    FillLine(0, " ttmem top   fragmentation   Esc: back", A_REVERSE);
    Put(2, 0, "No devices.");
    return;
  }
  const model::Device& d = devices[st.frag_index % devices.size()];
  FillLine(0,
           fmt::format(" ttmem top   fragmentation: device {} ({})   Tab: next   Esc: back", d.id,
                       d.arch.value_or("")),
           A_REVERSE);
  std::vector<const model::FragmentationType*> types;
  for (const model::FragmentationDevice& dev : st.fragmentation.devices)
    for (const model::FragmentationType& t : dev.types) types.push_back(&t);
  const FragmentationLayout l = LayoutFragmentation(LINES, COLS, types.size());
  int y = 2;
  const bool any = !types.empty();
  for (size_t i = 0; i < l.types_shown; ++i) {
    const model::FragmentationType& t = *types[i];
    auto label = proto::MemTypeFromKey(t.type);
    Put(y++, 0,
        fmt::format("{:<9} {} bank(s) of {} from {:#x}",
                    label ? proto::kMemTypeLabels[*label] : t.type, t.bank_count,
                    FormatBytes(t.bank_size), t.bank_base),
        A_BOLD);
    Put(y++, 0,
        fmt::format("  per bank: used {}  free {} in {} block(s)  largest free {}",
                    FormatBytesShort(t.used_per_bank_bytes),
                    FormatBytesShort(t.free_per_bank_bytes), t.free_blocks,
                    FormatBytesShort(t.largest_free_block_bytes)));
    const std::string map = base::TerminalSafe(t.map);
    Put(y, 0, "[");
    Put(y, 1, map, st.color ? COLOR_PAIR(kTitle) : 0);
    Put(y++, 1 + static_cast<int>(map.size()), "]");
  }
  if (st.fragmentation.error)  // refused or malformed: said, not taken for "no geometry"
    Put(y++, 0,
        Truncate(base::TerminalSafe("Fragmentation: " + *st.fragmentation.error),
                 static_cast<size_t>(std::max(COLS - 1, 1))));
  else if (!any)
    Put(y++, 0,
        "No bank geometry announced for this device: the runtime's ttmem_device_info leaves "
        "bank_count 0.");
  Put(LINES - 2, 0,
      "Map of one bank, low addresses left: ' ' free  '.' <1/3 used  ':' <2/3  '#' more");
}

void DrawHelp() {
  FillLine(0, " ttmem top   help   any key: back", A_REVERSE);
  const char* lines[] = {
      "Up/Down PgUp/PgDn Home/End   select a process",
      "f            fragmentation: free space and address map per device and type",
      "Enter        the process's detail: per device and type, largest buffers,",
      "             its history",
      "s            sort by the next column (PID USER DRAM L1 CB TRACE TOTAL)",
      "r            reverse the sort",
      "/            filter: text (command, user or PID), user:NAME, pid:N or dev:N",
      "c            clear the filter",
      "k / K        send SIGTERM / SIGKILL to the selected process (asks first;",
      "             off with --readonly; other users' processes need root;",
      "             never a process known only from tt-metal's statistics)",
      "Esc, Left    back to the main view",
      "h, ?         this help",
      "q            quit",
      "",
      "Bars: green below 60 %, yellow below 85 %, red above (--no-color: none).",
      "The status line shows the daemon's state and anomalies: unknown frees,",
      "duplicate allocations and events clients had to drop.",
  };
  int y = 2;
  for (const char* l : lines) Put(y++, 2, l);
}

void DrawStatusLine(const State& st) {
  std::string line;
  int attr = A_REVERSE;
  if (!st.connected) {
    line = " daemon gone, retrying: " + st.error;
    if (st.color) attr |= COLOR_PAIR(kRed);
  } else {
    const model::Counters c = st.status.counters.value_or(model::Counters{});
    line = fmt::format(
        " daemon ok   unknown frees {}   duplicate allocs {}   dropped events {}   coverage {}",
        c.unknown_frees, c.duplicate_allocs, c.dropped_events, c.coverage_anomalies);
    if (st.color && (c.unknown_frees || c.dropped_events || c.coverage_anomalies))
      attr |= COLOR_PAIR(kYellow);
  }
  // A message (the answer to a key) comes first: it must not be cut off at 80 columns.
  if (!st.message.empty()) line = " " + st.message + "   |" + line;
  FillLine(LINES - 1, line, attr);
}

}  // namespace

void Draw(State& st) {
  erase();
  if (st.view == View::kHelp)
    DrawHelp();
  else if (st.view == View::kDetail)
    DrawDetail(st);
  else if (st.view == View::kFragmentation)
    DrawFragmentation(st);
  else
    DrawMain(st);
  DrawStatusLine(st);
  refresh();
}

}  // namespace ttmem::cli::top
