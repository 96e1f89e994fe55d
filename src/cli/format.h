// format.h — pure formatting for the CLI: byte units, percentages, bars, the status table.
#ifndef TTMEM_CLI_FORMAT_H_
#define TTMEM_CLI_FORMAT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "model/status.h"

namespace ttmem::cli {

// 0 -> "0 B", 1536 -> "1.5 KiB", 12 GiB -> "12.0 GiB". Binary units.
using base::FormatBytes;
// Short binary units for narrow screens: 0 -> "0", 1536 -> "1.5K", 12 GiB -> "12.0G".
std::string FormatBytesShort(uint64_t bytes);
// "used / total (pct%)" or "used / ?" when the total is unknown.
std::string FormatUsedOfTotal(uint64_t used, std::optional<uint64_t> total);
// A bar of `width` cells, '#' for used, '.' for free; all '?' when total unknown.
std::string Bar(uint64_t used, std::optional<uint64_t> total, int width);
// Cuts `s` to at most `width` columns, ending with '~' when cut.
std::string Truncate(const std::string& s, size_t width);

// A chart of `values` (oldest first) scaled to `max`: `height` rows of `width` columns, top row
// first; the newest value is in the last column, each column one value; '#' fills a cell, ':'
// and '.' fill its upper and lower part. Fewer values than columns: blank on the left.
std::vector<std::string> Chart(const std::vector<double>& values, double max, int width,
                               int height);
// Colour class of a usage percentage: 0 below 60 %, 1 below 85 %, 2 from 85 % (green, yellow,
// red in the monitor).
int UsageLevel(double percent);

// Device ids as compact ranges: [0,1,2,3,5] -> "0-3,5"; empty -> "-".
std::string FormatDeviceList(std::vector<uint32_t> ids);

// A plain-text table: columns sized to content, left-aligned unless the header starts with '>'
// (right-aligned; the marker is not printed).
std::string RenderTable(const std::vector<std::string>& headers,
                        const std::vector<std::vector<std::string>>& rows);

// The nvidia-smi-like status text.
std::string RenderStatus(const model::Status& status);

}  // namespace ttmem::cli

#endif  // TTMEM_CLI_FORMAT_H_
