// `ttmem top`'s main view at several terminal sizes: what it shows, and that it all fits.
#include "cli/top_layout.h"

#include <gtest/gtest.h>

namespace ttmem::cli {
namespace {

// Everything drawn lies between the title and the status line, and the table always has a row.
void ExpectFits(int lines, int cols, size_t devices) {
  const MainLayout l = LayoutMain(lines, cols, devices);
  SCOPED_TRACE(testing::Message() << lines << "x" << cols << ", " << devices << " device(s)");
  if (cols >= 80) {
    EXPECT_LE(l.device_line_width, cols);  // both bars and their figures fit
    EXPECT_TRUE(l.l1_bar);
  }
  // The drawing's columns, left to right: nothing overlaps, a gap before "L1".
  const int figures = l.wide_figures ? 28 : 20;
  EXPECT_EQ(l.dram_bar_x, 22);  // "  3 wormhole_b0 DRAM [" before it
  EXPECT_EQ(l.l1_label_x, l.dram_bar_x + l.bar_width + figures + 2);
  EXPECT_EQ(l.l1_bar_x, l.l1_label_x + 4);  // "L1 ["
  EXPECT_EQ(l.device_line_width, l.l1_bar_x + l.bar_width + figures);
  EXPECT_EQ(l.l1_bar, l.device_line_width <= cols);
  EXPECT_LE(l.devices_shown, devices);
  EXPECT_EQ(l.more_devices, l.devices_shown < devices);
  EXPECT_GE(l.table_rows, 1u);
  if (lines >= 8) {
    EXPECT_LE(l.table_header_y + 1 + static_cast<int>(l.table_rows), lines - 1);
    EXPECT_GE(l.devices_shown, devices == 0 ? 0u : 1u);
  }
  EXPECT_GE(l.bar_width, 6);
  EXPECT_LE(l.bar_width, 40);
}

TEST(TopLayout, A24By80TerminalWithOneDevice) {
  const MainLayout l = LayoutMain(24, 80, 1);
  EXPECT_TRUE(l.full);
  EXPECT_EQ(l.devices_shown, 1u);
  EXPECT_FALSE(l.more_devices);
  EXPECT_EQ(l.chart_rows, 2);
  EXPECT_TRUE(l.narrow);
  EXPECT_EQ(l.bar_width, 6);
  EXPECT_EQ(l.table_header_y, 8);  // title, 2 panel lines, chart title + 2 x 2
  EXPECT_EQ(l.table_rows, 14u);
}

TEST(TopLayout, ManyDevicesGoCompactAndSayHowManyAreLeft) {
  const MainLayout l = LayoutMain(24, 80, 32);
  EXPECT_FALSE(l.full);
  EXPECT_EQ(l.chart_rows, 0);
  EXPECT_EQ(l.devices_shown, 16u);  // the table keeps its 6 lines
  EXPECT_TRUE(l.more_devices);
  EXPECT_EQ(l.table_rows, 4u);
}

TEST(TopLayout, AWideTallTerminalGetsWideBarsAndTheChart) {
  const MainLayout l = LayoutMain(60, 220, 8);
  EXPECT_TRUE(l.full);
  EXPECT_EQ(l.devices_shown, 8u);
  EXPECT_EQ(l.chart_rows, 2);
  EXPECT_FALSE(l.narrow);
  EXPECT_EQ(l.bar_width, 40);
}

TEST(TopLayout, FitsAtEverySize) {
  for (int lines : {6, 8, 12, 24, 40, 80})
    for (int cols : {40, 80, 120, 139, 140, 141, 250})
      for (size_t devices : {0u, 1u, 2u, 8u, 32u, 1024u}) ExpectFits(lines, cols, devices);
}

// The detail view at many sizes: its parts follow one another without overlapping, nothing goes
// below the status line, and what does not fit is cut, not drawn over something else.
TEST(TopLayout, TheDetailViewFitsEveryTerminalSize) {
  for (int lines = 6; lines <= 80; lines += 3)
    for (size_t devices : {0u, 1u, 8u, 32u})
      for (size_t ops : {0u, 3u, 40u})
        for (size_t buffers : {0u, 10u})
          for (bool refused : {false, true}) {
            SCOPED_TRACE(testing::Message()
                         << lines << " lines, " << devices << " devices, " << ops << " ops, "
                         << buffers << " buffers" << (refused ? ", refused" : ""));
            const DetailLayout l =
                LayoutDetail(lines, devices, ops, refused ? 0 : buffers, refused);
            EXPECT_LE(l.device_rows, devices);
            int end = l.device_y + (l.device_rows > 0 ? 1 + static_cast<int>(l.device_rows) : 0);
            EXPECT_LE(end, std::max(lines / 2, l.device_y));  // the top half at most
            EXPECT_EQ(l.refusal_y >= 0, refused);
            if (l.refusal_y >= 0) {
              EXPECT_GT(l.refusal_y, end - 1);
              end = l.refusal_y + 1;
            }
            EXPECT_EQ(l.by_op_y >= 0, ops != 0);
            if (l.by_op_y >= 0) {
              EXPECT_GE(l.by_op_y, end);
              EXPECT_LE(l.op_rows,
                        std::min<size_t>(ops, static_cast<size_t>(std::max(lines / 4 - 1, 1))));
              end = l.by_op_y + 2 + static_cast<int>(l.op_rows);
              if (l.op_rows > 0) {
                EXPECT_LE(end, lines - 2);
              }
            }
            EXPECT_EQ(l.buffers_y >= 0, !refused);
            if (l.buffers_y >= 0) {
              EXPECT_GE(l.buffers_y, end);
              end = l.buffers_y + 2 + static_cast<int>(l.buffer_rows);
              if (l.buffer_rows > 0) {
                EXPECT_LE(end, lines - 1 - l.chart_rows - 1);
              }
            }
            if (l.chart_y >= 0) {
              EXPECT_GE(l.chart_y, end);
              EXPECT_LE(l.chart_y + 1 + l.chart_rows, lines - 1);  // above the status line
            }
          }
  // A common terminal shows a fair share of everything.
  const DetailLayout l = LayoutDetail(40, 2, 5, 10, false);
  EXPECT_EQ(l.device_rows, 2u);
  EXPECT_EQ(l.op_rows, 5u);
  EXPECT_EQ(l.buffer_rows, 10u);
  EXPECT_GE(l.chart_y, 0);
}

TEST(TopLayout, TheFragmentationViewShowsTheTypesThatFit) {
  for (int lines = 4; lines <= 60; ++lines)
    for (size_t types : {0u, 1u, 5u, 7u}) {
      const FragmentationLayout l = LayoutFragmentation(lines, 80, types);
      EXPECT_LE(l.types_shown, types);
      // Three lines each from line 2, the last ending above the legend and the status line.
      if (l.types_shown > 0) {
        EXPECT_LE(2 + 3 * static_cast<int>(l.types_shown) + 1, lines - 1);
      }
    }
  EXPECT_EQ(LayoutFragmentation(24, 80, 5).types_shown, 5u);
  EXPECT_EQ(LayoutFragmentation(24, 80, 5).map_cells, 78);
  EXPECT_EQ(LayoutFragmentation(24, 3000, 5).map_cells, 1000);  // what the daemon draws at most
  EXPECT_EQ(LayoutFragmentation(24, 1, 5).map_cells, 1);
}

}  // namespace
}  // namespace ttmem::cli
