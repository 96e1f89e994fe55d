// top_layout.h — where `ttmem top`'s main view puts things, for a terminal of LINES x COLS: a
// pure function, tested at several sizes (top_layout_test.cc), that the drawing code follows.
//
//   line 0                  title
//   1 ..                    device panels: 2 lines each ("full": bars, then the small types),
//                           or 1 when they do not all fit; "... N more device(s)" if some don't
//   then                    the history chart: a title and `chart_rows` lines per metric (DRAM,
//                           L1), when there is room for it and for the table
//   table_header_y          the process table's header, then up to `table_rows` rows
//   LINES - 1               the status line
#ifndef TTMEM_CLI_TOP_LAYOUT_H_
#define TTMEM_CLI_TOP_LAYOUT_H_

#include <cstddef>

namespace ttmem::cli {

struct MainLayout {
  bool full = false;          // two lines per device panel
  size_t devices_shown = 0;   // panels drawn
  bool more_devices = false;  // the "... N more" line
  int chart_rows = 0;         // rows per chart metric; 0: no chart
  int bar_width = 6;          // each DRAM / L1 bar
  bool wide_figures = false;  // a bar's figures in full units (from 140 columns), else short
  int device_line_width = 0;  // columns of a panel's bar line: id, arch, both bars and figures
  bool narrow = false;        // short units and tighter text columns (under 110 columns)
  int table_header_y = 1;
  size_t table_rows = 1;  // process rows that fit below the header, above the status line
};

MainLayout LayoutMain(int lines, int cols, size_t devices);

}  // namespace ttmem::cli

#endif  // TTMEM_CLI_TOP_LAYOUT_H_
