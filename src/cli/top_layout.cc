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
  l.device_line_width = kBarLineFixed + 2 * (l.bar_width + figures);
  l.narrow = cols < 110;
  l.table_header_y =
      1 + static_cast<int>(l.devices_shown) * per + (l.more_devices ? 1 : 0) + chart_lines;
  l.table_rows = static_cast<size_t>(std::max(lines - 1 - (l.table_header_y + 1), 1));
  return l;
}

}  // namespace ttmem::cli
