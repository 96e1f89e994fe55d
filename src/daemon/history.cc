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
    for (int t = 0; t < ledger::kNumTypes; ++t) s.used[t] = dev.usage[t].bytes;
    devices_[id].Push(s, capacity_);
  }
  for (auto it = processes_.begin(); it != processes_.end();)
    it = ledger.processes().count(it->first) != 0 ? std::next(it) : processes_.erase(it);
  for (const auto& [pid, p] : ledger.processes()) {
    Sample s{now_unix_ms, {}};
    for (const auto& [dev_id, usage] : p.usage)
      for (int t = 0; t < ledger::kNumTypes; ++t) s.used[t] += usage[t].bytes;
    processes_[pid].Push(s, capacity_);
  }
}

nlohmann::json History::ToJson(std::optional<uint32_t> device, std::optional<pid_t> pid) const {
  using nlohmann::json;
  auto samples = [](const Series& series) {
    json rows = json::array();
    for (const Sample& s : series.Samples()) {
      json row = json::array({s.unix_ms});
      for (uint64_t v : s.used) row.push_back(v);
      rows.push_back(std::move(row));
    }
    return rows;
  };
  json columns = json::array({"unix_ms"});
  for (auto k : proto::kMemTypeKeys) columns.push_back(std::string(k));
  json devices = json::array(), processes = json::array();
  for (const auto& [id, series] : devices_)
    if (!device || *device == id) devices.push_back({{"id", id}, {"samples", samples(series)}});
  for (const auto& [p, series] : processes_)
    if (!pid || *pid == p) processes.push_back({{"pid", p}, {"samples", samples(series)}});
  return {{"interval_ms", interval_ms_},
          {"columns", std::move(columns)},
          {"devices", std::move(devices)},
          {"processes", std::move(processes)}};
}

}  // namespace ttmem::daemon
