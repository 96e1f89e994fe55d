#include "cli/report_ops.h"

#include <algorithm>

namespace ttmem::cli {
namespace {

using nlohmann::json;

json OpJson(const OpName& op) {
  return op.empty() ? json() : json(op);
}

std::string TypeKey(int t) {
  return t >= 0 && t < kReportTypes ? std::string(proto::kMemTypeKeys[static_cast<size_t>(t)])
                                    : "?";
}

constexpr int kDram = 0, kL1 = 1, kL1Small = 3, kTrace = 4, kCb = 5;

}  // namespace

// --- OpLedger ----------------------------------------------------------------------------------

void OpLedger::Alloc(int64_t proc, const OpName& op, uint32_t device, int type, uint64_t size,
                     bool counted) {
  Figures& f = ops_[op];
  if (counted) {
    ++f.allocs;
    f.bytes += size;
  }
  auto& live = f.live[{device, type}];
  live[0] += size;
  live[1] = std::max(live[1], live[0]);
  by_proc_[proc][{op, device, type}] += size;
}

void OpLedger::Free(int64_t proc, const OpName& op, uint32_t device, int type, uint64_t size) {
  auto& live = ops_[op].live[{device, type}];
  live[0] -= std::min(live[0], size);
  auto& mine = by_proc_[proc];
  auto it = mine.find({op, device, type});
  if (it == mine.end()) return;
  it->second -= std::min(it->second, size);
  if (it->second == 0) mine.erase(it);
}

const std::map<OpKey, uint64_t>& OpLedger::OfProcess(int64_t proc) const {
  static const std::map<OpKey, uint64_t> kNone;
  auto it = by_proc_.find(proc);
  return it == by_proc_.end() ? kNone : it->second;
}

json OpLedger::Json(
    const std::map<std::pair<uint32_t, int>, uint64_t>& type_peaks,
    const std::map<std::pair<uint32_t, int>, std::map<OpName, uint64_t>>& at_peak) const {
  std::vector<std::pair<uint64_t, json>> rows;
  for (const auto& [op, f] : ops_) {
    json peaks = json::array();
    uint64_t largest = 0;
    for (const auto& [key, v] : f.live) {
      if (v[1] == 0) continue;
      largest = std::max(largest, v[1]);
      json p = {{"device", key.first}, {"type", TypeKey(key.second)}, {"peak_bytes", v[1]}};
      auto tp = type_peaks.find(key);
      auto ap = at_peak.find(key);
      uint64_t held = 0;
      if (ap != at_peak.end()) {
        auto o = ap->second.find(op);
        if (o != ap->second.end()) held = o->second;
      }
      p["bytes_at_type_peak"] = held;
      p["share_of_type_peak"] =
          tp != type_peaks.end() && tp->second != 0
              ? json(static_cast<double>(held) / static_cast<double>(tp->second))
              : json();
      peaks.push_back(std::move(p));
    }
    rows.emplace_back(largest, json{{"op", OpJson(op)},
                                    {"allocs", f.allocs},
                                    {"bytes_allocated", f.bytes},
                                    {"peaks", std::move(peaks)}});
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  json out = json::array();
  for (auto& [k, row] : rows) out.push_back(std::move(row));
  return out;
}

// --- Phases ------------------------------------------------------------------------------------

void Phases::Mark(int64_t proc, int64_t pid, const std::string& name, const OpName& scope,
                  int64_t time_ns, double offset_s,
                  const std::map<std::pair<uint32_t, int>, uint64_t>& held,
                  const std::map<OpKey, uint64_t>& by_op) {
  ++total_;
  if (listed_.size() < kMaxListed) {
    json h = json::array();
    for (const auto& [key, bytes] : held)
      h.push_back({{"device", key.first}, {"type", TypeKey(key.second)}, {"bytes", bytes}});
    json ops = json::array();
    for (const auto& [key, bytes] : by_op)
      ops.push_back({{"op", OpJson(std::get<0>(key))},
                     {"device", std::get<1>(key)},
                     {"type", TypeKey(std::get<2>(key))},
                     {"bytes", bytes}});
    listed_.push_back({{"pid", pid},
                       {"name", name},
                       {"scope", OpJson(scope)},
                       {"time_ns", time_ns},
                       {"offset_s", offset_s},
                       {"held", std::move(h)},
                       {"by_op", std::move(ops)}});
  }
  Series& s = series_[{proc, name}];
  s.pid = pid;
  if (s.marks == 0) {
    s.first = held;
    s.first_op = by_op;
  } else {
    std::map<std::pair<uint32_t, int>, int64_t> delta;
    for (const auto& [k, v] : s.last) delta[k] -= static_cast<int64_t>(v);
    for (const auto& [k, v] : held) delta[k] += static_cast<int64_t>(v);
    for (const auto& entry : s.step) delta.try_emplace(entry.first, 0);
    for (const auto& [k, d] : delta) {
      auto it = s.step.find(k);
      if (it == s.step.end()) {
        // New since the last mark: every earlier interval moved it by 0.
        const std::array<int64_t, 2> first =
            s.marks > 1 ? std::array<int64_t, 2>{0, 0} : std::array<int64_t, 2>{d, d};
        it = s.step.emplace(k, first).first;
      }
      it->second[0] = std::min(it->second[0], d);
      it->second[1] = std::max(it->second[1], d);
    }
  }
  s.last = held;
  s.last_op = by_op;
  ++s.marks;
}

json Phases::Json() const {
  json growth = json::array();
  for (const auto& [key, s] : series_) {
    if (s.marks < 2) continue;
    const double intervals = static_cast<double>(s.marks - 1);
    json by_type = json::array();
    std::map<std::pair<uint32_t, int>, std::array<uint64_t, 2>> both;
    for (const auto& [k, v] : s.first) both[k][0] = v;
    for (const auto& [k, v] : s.last) both[k][1] = v;
    for (const auto& [k, v] : both) {
      const int64_t g = static_cast<int64_t>(v[1]) - static_cast<int64_t>(v[0]);
      auto st = s.step.find(k);
      by_type.push_back({{"device", k.first},
                         {"type", TypeKey(k.second)},
                         {"first_bytes", v[0]},
                         {"last_bytes", v[1]},
                         {"growth_bytes", g},
                         {"per_interval_bytes", static_cast<double>(g) / intervals},
                         {"min_step_bytes", st != s.step.end() ? st->second[0] : 0},
                         {"max_step_bytes", st != s.step.end() ? st->second[1] : 0}});
    }
    std::map<OpKey, std::array<uint64_t, 2>> ops;
    for (const auto& [k, v] : s.first_op) ops[k][0] = v;
    for (const auto& [k, v] : s.last_op) ops[k][1] = v;
    json by_op = json::array();
    for (const auto& [k, v] : ops) {
      const int64_t g = static_cast<int64_t>(v[1]) - static_cast<int64_t>(v[0]);
      if (g == 0) continue;
      by_op.push_back({{"op", OpJson(std::get<0>(k))},
                       {"device", std::get<1>(k)},
                       {"type", TypeKey(std::get<2>(k))},
                       {"growth_bytes", g},
                       {"per_interval_bytes", static_cast<double>(g) / intervals}});
    }
    growth.push_back({{"pid", s.pid},
                      {"name", key.second},
                      {"marks", s.marks},
                      {"intervals", s.marks - 1},
                      {"by_type", std::move(by_type)},
                      {"by_op", std::move(by_op)}});
  }
  return {{"marks_total", total_},
          {"marks", listed_},
          {"marks_listed", listed_.size()},
          {"growth", std::move(growth)}};
}

// --- Advisor -----------------------------------------------------------------------------------

uint64_t Advisor::Alignment(const std::string& arch, int type) {
  if (type == kDram || type == kTrace) return arch.rfind("blackhole", 0) == 0 ? 64 : 32;
  return 16;
}

uint64_t Advisor::PerBank(uint32_t device, int type, uint64_t size) const {
  auto d = devices_.find(device);
  if (d == devices_.end()) return 0;
  const AdvisorDevice& info = d->second.info;
  uint64_t banks = info.bank_count[static_cast<size_t>(type)];
  if (type == kCb) banks = info.num_cores != 0 ? info.num_cores : info.bank_count[kL1];
  if (banks == 0) return 0;
  const uint64_t a = Alignment(info.arch, type);
  return ((size + banks - 1) / banks + a - 1) / a * a;
}

void Advisor::Change(uint32_t device, int type, uint64_t size, int sign, int64_t time_ns,
                     double offset_s, int64_t pid, const OpName& op) {
  if (type != kL1 && type != kL1Small && type != kTrace && type != kCb) return;
  Device& d = devices_[device];
  const uint64_t share = PerBank(device, type, size);
  Peak& p = d.per_bank[static_cast<size_t>(type)];
  p.cur = sign > 0 ? p.cur + share : p.cur - std::min(p.cur, share);
  auto up = [&](Peak& pk, uint64_t cur) {
    pk.cur = cur;
    if (cur <= pk.peak) return;
    pk.peak = cur;
    pk.time_ns = time_ns;
    pk.offset_s = offset_s;
    pk.pid = pid;
    pk.op = op;
  };
  up(p, p.cur);
  if (type == kL1 || type == kCb) up(d.l1_cb, d.per_bank[kL1].cur + d.per_bank[kCb].cur);
}

json Advisor::Json() const {
  json out = json::array();
  for (const auto& [id, d] : devices_) {
    json a = {{"device", id}, {"arch", d.info.arch}};
    auto region = [&](int type, const char* size_key, const char* detail_key) {
      const Peak& p = d.per_bank[static_cast<size_t>(type)];
      const uint32_t banks = d.info.bank_count[static_cast<size_t>(type)];
      if (banks == 0) {
        a[size_key] = nullptr;
        a[detail_key] = {{"note", "the device was announced without this type's bank count"}};
        return;
      }
      a[size_key] = p.peak;
      json detail = {
          {"peak_per_bank_bytes", p.peak},
          {"bank_count", banks},
          {"alignment", Alignment(d.info.arch, type)},
          {"configured_per_bank_bytes", d.info.capacity[static_cast<size_t>(type)] / banks}};
      if (p.peak != 0)
        detail.update({{"peak_time_ns", p.time_ns},
                       {"peak_offset_s", p.offset_s},
                       {"pid", p.pid},
                       {"op", OpJson(p.op)}});
      a[detail_key] = std::move(detail);
    };
    region(kTrace, "trace_region_size", "trace");
    region(kL1Small, "l1_small_size", "l1_small");
    const uint32_t l1_banks = d.info.bank_count[kL1];
    if (l1_banks != 0) {
      const uint64_t bank = d.info.capacity[kL1] / l1_banks;
      const Peak& p = d.l1_cb;
      json l1 = {{"bank_size_bytes", bank},
                 {"peak_per_core_bytes", p.peak},
                 {"headroom_per_core_bytes", bank > p.peak ? bank - p.peak : 0},
                 {"l1_buffers_peak_per_bank_bytes", d.per_bank[kL1].peak},
                 {"cb_peak_per_core_bytes", d.per_bank[kCb].peak}};
      if (p.peak != 0)
        l1.update({{"peak_time_ns", p.time_ns},
                   {"peak_offset_s", p.offset_s},
                   {"pid", p.pid},
                   {"op", OpJson(p.op)}});
      a["l1"] = std::move(l1);
    } else {
      a["l1"] = {{"note", "the device was announced without L1's bank count"}};
    }
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace ttmem::cli
