#include "cli/report_ops.h"

#include <algorithm>

namespace ttmem::cli {
namespace {

report::Op OpOf(const OpName& op) {
  return op.empty() ? report::Op() : report::Op(op);
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

std::vector<report::OpReport> OpLedger::Report(
    const std::map<std::pair<uint32_t, int>, uint64_t>& type_peaks,
    const std::map<std::pair<uint32_t, int>, std::map<OpName, uint64_t>>& at_peak) const {
  std::vector<std::pair<uint64_t, report::OpReport>> rows;
  for (const auto& [op, f] : ops_) {
    report::OpReport row{OpOf(op), f.allocs, f.bytes, {}};
    uint64_t largest = 0;
    for (const auto& [key, v] : f.live) {
      if (v[1] == 0) continue;
      largest = std::max(largest, v[1]);
      report::OpPeak p{key.first, std::string(proto::MemTypeKey(key.second)), v[1], 0,
                       std::nullopt};
      auto tp = type_peaks.find(key);
      auto ap = at_peak.find(key);
      if (ap != at_peak.end()) {
        auto o = ap->second.find(op);
        if (o != ap->second.end()) p.bytes_at_type_peak = o->second;
      }
      if (tp != type_peaks.end() && tp->second != 0)
        p.share_of_type_peak =
            static_cast<double>(p.bytes_at_type_peak) / static_cast<double>(tp->second);
      row.peaks.push_back(std::move(p));
    }
    rows.emplace_back(largest, std::move(row));
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<report::OpReport> out;
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
    report::Mark m{pid, name, OpOf(scope), time_ns, offset_s, {}, {}};
    for (const auto& [key, bytes] : held)
      m.held.push_back({key.first, std::string(proto::MemTypeKey(key.second)), bytes});
    for (const auto& [key, bytes] : by_op)
      m.by_op.push_back({OpOf(std::get<0>(key)), std::get<1>(key),
                         std::string(proto::MemTypeKey(std::get<2>(key))), bytes});
    listed_.push_back(std::move(m));
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

report::PhasesReport Phases::Report() const {
  report::PhasesReport out{total_, listed_, {}};
  for (const auto& [key, s] : series_) {
    if (s.marks < 2) continue;
    const double intervals = static_cast<double>(s.marks - 1);
    report::Growth g{s.pid, key.second, s.marks, s.marks - 1, {}, {}};
    std::map<std::pair<uint32_t, int>, std::array<uint64_t, 2>> both;
    for (const auto& [k, v] : s.first) both[k][0] = v;
    for (const auto& [k, v] : s.last) both[k][1] = v;
    for (const auto& [k, v] : both) {
      const int64_t d = static_cast<int64_t>(v[1]) - static_cast<int64_t>(v[0]);
      auto st = s.step.find(k);
      g.by_type.push_back({k.first, std::string(proto::MemTypeKey(k.second)), v[0], v[1], d,
                           static_cast<double>(d) / intervals,
                           st != s.step.end() ? st->second[0] : 0,
                           st != s.step.end() ? st->second[1] : 0});
    }
    std::map<OpKey, std::array<uint64_t, 2>> ops;
    for (const auto& [k, v] : s.first_op) ops[k][0] = v;
    for (const auto& [k, v] : s.last_op) ops[k][1] = v;
    for (const auto& [k, v] : ops) {
      const int64_t d = static_cast<int64_t>(v[1]) - static_cast<int64_t>(v[0]);
      if (d == 0) continue;
      g.by_op.push_back({OpOf(std::get<0>(k)), std::get<1>(k),
                         std::string(proto::MemTypeKey(std::get<2>(k))), d,
                         static_cast<double>(d) / intervals});
    }
    out.growth.push_back(std::move(g));
  }
  return out;
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

std::vector<report::Advice> Advisor::Report() const {
  std::vector<report::Advice> out;
  for (const auto& [id, d] : devices_) {
    report::Advice a;
    a.device = id;
    a.arch = d.info.arch;
    auto at = [](const Peak& p) {
      return p.peak == 0 ? std::optional<report::PeakAt>()
                         : report::PeakAt{p.time_ns, p.offset_s, p.pid, OpOf(p.op)};
    };
    auto region = [&](int type, report::Region* r) {
      const Peak& p = d.per_bank[static_cast<size_t>(type)];
      const uint32_t banks = d.info.bank_count[static_cast<size_t>(type)];
      if (banks == 0) return;  // announced without it: no advice
      *r = report::Region{p.peak, banks, Alignment(d.info.arch, type),
                          d.info.capacity[static_cast<size_t>(type)] / banks, at(p)};
    };
    region(kTrace, &a.trace);
    region(kL1Small, &a.l1_small);
    if (const uint32_t l1_banks = d.info.bank_count[kL1]; l1_banks != 0) {
      const uint64_t bank = d.info.capacity[kL1] / l1_banks;
      const Peak& p = d.l1_cb;
      a.l1 = report::L1Advice{bank,
                              p.peak,
                              bank > p.peak ? bank - p.peak : 0,
                              d.per_bank[kL1].peak,
                              d.per_bank[kCb].peak,
                              at(p)};
    }
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace ttmem::cli
