#include "cli/top_layout.h"

#include <algorithm>

namespace ttmem::cli {
namespace {

constexpr int kTableMin = 6;  // lines the process table wants at least
// Lines left beyond the table's minimum for a chart of 2 rows per metric (it takes title + 2 x 2
// = 5; the other 2 keep the table from being squeezed) and of 1 row per metric (3, plus 2).
constexpr int kChartTall = 7;
constexpr int kChartLow = 5;
// A panel's bar line: "ID  ARCH       " (16), "DRAM " [bar] figures, 2 spaces, "L1 " [bar]
// figures. A bar's figures ("] 99% 1023.9 GiB/1023.9 GiB") take at most 28 columns, short 20 (one
// more at 100 %).
constexpr int kBarLineFixed = 16 + 5 + 1 + 2 + 3 + 1;
constexpr int kFiguresWide = 28, kFiguresShort = 20;

}  // namespace

MainLayout LayoutMain(int lines, int cols, size_t devices) {
  MainLayout l;
  const int ndev = static_cast<int>(std::min<size_t>(devices, 1u << 20));
  const int avail = lines - 2;  // less the title and the status line
  l.full = ndev * 2 + kTableMin + kChartTall <= avail;
  const int per = l.full ? 2 : 1;
  const int left = avail - ndev * per;  // after every panel
  l.chart_rows = left >= kTableMin + kChartTall ? 2 : left >= kTableMin + kChartLow ? 1 : 0;
  const int chart_lines = l.chart_rows != 0 ? 1 + 2 * l.chart_rows : 0;
  const int device_lines = std::max(1, avail - kTableMin - chart_lines);
  l.devices_shown = static_cast<size_t>(std::min(ndev, std::max(device_lines / per, 1)));
  l.more_devices = l.devices_shown < devices;
  l.wide_figures = cols >= 140;
  const int figures = l.wide_figures ? kFiguresWide : kFiguresShort;
  l.bar_width = std::clamp((cols - kBarLineFixed - 2 * figures) / 2, 6, 40);
  l.dram_bar_x = 16 + 5 + 1;
  l.l1_label_x = l.dram_bar_x + l.bar_width + figures + 2;
  l.l1_bar_x = l.l1_label_x + 3 + 1;
  l.device_line_width = l.l1_bar_x + l.bar_width + figures;
  l.l1_bar = l.device_line_width <= cols;
  l.narrow = cols < 110;
  l.table_header_y =
      1 + static_cast<int>(l.devices_shown) * per + (l.more_devices ? 1 : 0) + chart_lines;
  l.table_rows = static_cast<size_t>(std::max(lines - 1 - (l.table_header_y + 1), 1));
  return l;
}

DetailLayout LayoutDetail(int lines, size_t devices, size_t ops, size_t buffers, bool refused) {
  DetailLayout l;
  int y = l.device_y;
  // The device table (a header and a row per device) stops at the middle of the screen.
  const int device_lines = std::max(0, std::min(1 + static_cast<int>(devices), lines / 2 - y));
  l.device_rows = static_cast<size_t>(std::max(0, device_lines - 1));
  y += device_lines + 1;
  if (refused) l.refusal_y = y++;
  if (ops != 0) {
    // A title, a header and the rows, a quarter of the screen at most, above the last two lines.
    l.by_op_y = y;
    const int most = std::max(lines / 4 - 1, 1);
    const int room = std::max(0, lines - 2 - (y + 2));
    l.op_rows = static_cast<size_t>(std::min({static_cast<int>(ops), most, room}));
    y += 2 + static_cast<int>(l.op_rows) + 1;
  }
  if (!refused) {
    // A title, a header and rows, above the chart's lines and the status line.
    l.buffers_y = y;
    const int room = std::max(0, lines - 2 - l.chart_rows - 1 - (y + 2));
    l.buffer_rows = static_cast<size_t>(std::min(static_cast<int>(buffers), room));
    y += 2 + static_cast<int>(l.buffer_rows);
  }
  if (y + l.chart_rows < lines - 1) l.chart_y = y;
  return l;
}

FragmentationLayout LayoutFragmentation(int lines, int cols, size_t types) {
  FragmentationLayout l;
  l.map_cells = std::clamp(cols - 2, 1, 1000);
  for (int y = 2; l.types_shown < types && y + 4 < lines; y += 3) ++l.types_shown;
  return l;
}

}  // namespace ttmem::cli
