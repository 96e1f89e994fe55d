#include "daemon/history.h"

#include <string>

#include "protocol/mem_types.h"

namespace ttmem::daemon {

void History::Series::Push(const Sample& s, size_t capacity) {
  if (ring_.size() < capacity) {
    ring_.push_back(s);
    return;
  }
  ring_[next_] = s;
  next_ = (next_ + 1) % capacity;
}

std::vector<History::Sample> History::Series::Samples() const {
  std::vector<Sample> out(ring_.begin() + static_cast<ptrdiff_t>(next_), ring_.end());
  out.insert(out.end(), ring_.begin(), ring_.begin() + static_cast<ptrdiff_t>(next_));
  return out;
}

void History::MaybeSample(uint64_t now_unix_ms, const ledger::Ledger& ledger) {
  if (capacity_ == 0 || (last_ms_ != 0 && now_unix_ms < last_ms_ + interval_ms_)) return;
  last_ms_ = now_unix_ms;
  for (const auto& [id, dev] : ledger.devices()) {
    Sample s{now_unix_ms, {}};
    for (int t = 0; t < proto::kNumMemTypes; ++t) s.used[t] = dev.usage[t].bytes;
    devices_[id].Push(s, capacity_);
  }
  for (auto it = processes_.begin(); it != processes_.end();)
    it = ledger.processes().count(it->first) != 0 ? std::next(it) : processes_.erase(it);
  for (const auto& [pid, p] : ledger.processes()) {
    Sample s{now_unix_ms, {}};
    for (const auto& [dev_id, usage] : p.usage)
      for (int t = 0; t < proto::kNumMemTypes; ++t) s.used[t] += usage[t].bytes;
    processes_[pid].Push(s, capacity_);
  }
}

model::HistoryReply History::Reply(std::optional<uint32_t> device, std::optional<pid_t> pid) const {
  model::HistoryReply r;
  r.interval_ms = interval_ms_;
  auto samples = [](const Series& series) {
    std::vector<model::HistorySample> out;
    for (const Sample& s : series.Samples()) out.push_back({s.unix_ms, s.used});
    return out;
  };
  for (const auto& [id, series] : devices_)
    if (!device || *device == id) r.devices[id] = samples(series);
  for (const auto& [p, series] : processes_)
    if (!pid || *pid == p) r.processes[p] = samples(series);
  return r;
}

}  // namespace ttmem::daemon
