// The regression gate (`ttmem report --baseline OLD --max-growth PCT`), on two Reports.
#include <array>
#include <map>
#include <optional>
#include <string>
#include <tuple>

#include "cli/report.h"

namespace ttmem::cli {

report::Comparison CompareReports(const report::Report& baseline, const report::Report& now,
                                  std::optional<double> max_growth_pct) {
  // (device, type, op) -> {baseline, now}; op "" with has_op false: the type's peak.
  struct Key {
    uint32_t device;
    std::string type;
    bool has_op;
    std::string op;
    bool operator<(const Key& o) const {
      return std::tie(device, type, has_op, op) < std::tie(o.device, o.type, o.has_op, o.op);
    }
  };
  std::map<Key, std::array<std::optional<uint64_t>, 2>> rows;
  auto collect = [&](const report::Report& r, size_t side) {
    for (const report::DeviceReport& d : r.devices)
      for (const report::TypeReport& t : d.types)
        rows[{d.id, t.type, false, ""}][side] = t.peak_bytes;
    for (const report::OpReport& o : r.ops) {
      if (!o.op) continue;  // memory outside any scope: in the type's row
      for (const report::OpPeak& p : o.peaks)
        rows[{p.device, p.type, true, *o.op}][side] = p.peak_bytes;
    }
  };
  collect(baseline, 0);
  collect(now, 1);
  report::Comparison out{baseline.recording.file, max_growth_pct, {}, false};
  for (const auto& [k, v] : rows) {
    // Per op only where both recordings name it; a type in either.
    if (k.has_op && (!v[0] || !v[1])) continue;
    report::ComparisonRow row{k.device,         k.type,       std::nullopt, v[0].value_or(0),
                              v[1].value_or(0), std::nullopt, false};
    if (row.baseline_bytes != 0)
      row.growth_pct = 100.0 *
                       (static_cast<double>(row.bytes) - static_cast<double>(row.baseline_bytes)) /
                       static_cast<double>(row.baseline_bytes);
    row.exceeded = max_growth_pct && row.bytes > row.baseline_bytes &&
                   (row.baseline_bytes == 0 || *row.growth_pct > *max_growth_pct);
    out.exceeded = out.exceeded || row.exceeded;
    if (k.has_op) row.op = k.op;
    out.rows.push_back(std::move(row));
  }
  return out;
}

}  // namespace ttmem::cli
