#include "daemon/fragmentation.h"

#include <algorithm>
#include <utility>

namespace ttmem::daemon {

std::vector<TypeFragmentation> ComputeFragmentation(const ledger::Ledger& ledger, uint32_t device,
                                                    uint32_t cells) {
  std::vector<TypeFragmentation> out;
  auto dev = ledger.devices().find(device);
  if (dev == ledger.devices().end() || !dev->second.info) return out;
  const ledger::DeviceInfo& info = *dev->second.info;
  cells = std::clamp<uint32_t>(cells, 1, 1000);
  // Intervals per type, gathered in one walk over every process's live buffers.
  std::vector<std::pair<uint64_t, uint64_t>> spans[ledger::kNumTypes];
  for (const auto& [pid, p] : ledger.processes())
    for (const ledger::LiveEntry& e : p.live) {
      if (e.device != device || e.hooked != 0 || e.type >= ledger::kNumTypes) continue;
      const uint32_t banks = info.bank_count[e.type];
      if (banks == 0 || e.size == 0) continue;
      const uint64_t per_bank = e.size / banks + (e.size % banks != 0);
      const uint64_t end = e.address > UINT64_MAX - per_bank ? UINT64_MAX : e.address + per_bank;
      spans[e.type].emplace_back(e.address, end);
    }
  for (int t = 0; t < ledger::kNumTypes; ++t) {
    if (info.bank_count[t] == 0) continue;
    TypeFragmentation f;
    f.type = t;
    f.bank_count = info.bank_count[t];
    f.bank_base = info.bank_base[t];
    f.bank_size = info.capacity_bytes[t] / f.bank_count;
    const uint64_t lo = f.bank_base, hi = f.bank_base + f.bank_size;
    // Clip to the range, sort and merge.
    auto& v = spans[t];
    std::vector<std::pair<uint64_t, uint64_t>> merged;
    std::sort(v.begin(), v.end());
    for (auto [a, b] : v) {
      a = std::clamp(a, lo, hi);
      b = std::clamp(b, lo, hi);
      if (a >= b) continue;
      if (!merged.empty() && a <= merged.back().second)
        merged.back().second = std::max(merged.back().second, b);
      else
        merged.emplace_back(a, b);
    }
    uint64_t at = lo;
    auto gap = [&](uint64_t until) {
      if (until <= at) return;
      f.free_per_bank += until - at;
      f.largest_free_block = std::max(f.largest_free_block, until - at);
      ++f.free_blocks;
    };
    for (auto [a, b] : merged) {
      gap(a);
      f.used_per_bank += b - a;
      at = b;
    }
    gap(hi);
    // The strip: the share of each cell's addresses in use.
    f.map.assign(cells, ' ');
    size_t k = 0;
    for (uint32_t c = 0; c < cells; ++c) {
      // Cell edges: lo + bank_size * c / cells, without overflow.
      auto edge = [&](uint64_t i) {
        return lo + f.bank_size / cells * i + f.bank_size % cells * i / cells;
      };
      const uint64_t c0 = edge(c), c1 = edge(c + 1);
      if (c1 <= c0) continue;
      while (k < merged.size() && merged[k].second <= c0) ++k;
      uint64_t covered = 0;
      for (size_t j = k; j < merged.size() && merged[j].first < c1; ++j)
        covered += std::min(c1, merged[j].second) - std::max(c0, merged[j].first);
      const double share = static_cast<double>(covered) / static_cast<double>(c1 - c0);
      f.map[c] = covered == 0 ? ' ' : share <= 1.0 / 3 ? '.' : share <= 2.0 / 3 ? ':' : '#';
    }
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace ttmem::daemon
