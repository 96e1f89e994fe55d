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
  }
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

}  // namespace
}  // namespace ttmem::cli
