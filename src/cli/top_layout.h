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
  // A panel's bar line, by column: the id and arch at 0, "DRAM [" at 16, the DRAM bar at
  // dram_bar_x, "L1 [" at l1_label_x, the L1 bar at l1_bar_x; each bar's figures after it.
  int dram_bar_x = 22;
  int l1_label_x = 0;
  int l1_bar_x = 0;
  bool l1_bar = false;        // the L1 bar and its figures fit the width
  int device_line_width = 0;  // columns of a panel's bar line: id, arch, both bars and figures
  bool narrow = false;        // short units and tighter text columns (under 110 columns)
  int table_header_y = 1;
  size_t table_rows = 1;  // process rows that fit below the header, above the status line
};

MainLayout LayoutMain(int lines, int cols, size_t devices);

// A process's detail (Enter on a process):
//   line 0        title;  1 its names and user;  2 its counters;  3 blank
//   device_y      its figures per device: a header and `device_rows` rows (the top half at most)
//   then          a blank; the refusal line when another user's buffers are refused
//   by_op_y       "Live memory by op:", a header and `op_rows` rows (a quarter of the screen)
//   buffers_y     "Largest live buffers", a header and `buffer_rows` rows (none when refused)
//   chart_y       its history: a title and `chart_rows` rows, when there is room (-1: none)
//   LINES - 1     the status line
struct DetailLayout {
  int device_y = 4;
  size_t device_rows = 0;
  int refusal_y = -1;  // -1: none
  int by_op_y = -1;    // -1: no ops
  size_t op_rows = 0;
  int buffers_y = -1;  // -1: refused
  size_t buffer_rows = 0;
  int chart_y = -1;
  int chart_rows = 3;
};
DetailLayout LayoutDetail(int lines, size_t devices, size_t ops, size_t buffers, bool refused);

// A device's fragmentation: from line 2, three lines per type (title, per-bank figures, the map
// of `map_cells` columns in brackets) while a type fits above the status line.
struct FragmentationLayout {
  size_t types_shown = 0;
  int map_cells = 1;  // also the cells asked of the daemon
};
FragmentationLayout LayoutFragmentation(int lines, int cols, size_t types);

}  // namespace ttmem::cli

#endif  // TTMEM_CLI_TOP_LAYOUT_H_
