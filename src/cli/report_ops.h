// report_ops.h — what `ttmem report` says about why memory was held (issue 17): per op its
// allocations, bytes and peak; the memory live at each phase mark and its growth between repeated
// marks; and the sizing advice (trace_region_size, l1_small_size, L1 headroom per core). Fed by
// report.cc's replay, one event at a time, with plain values; no SQLite here.
#ifndef TTMEM_CLI_REPORT_OPS_H_
#define TTMEM_CLI_REPORT_OPS_H_

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "model/report.h"
#include "protocol/mem_types.h"

namespace ttmem::cli {

namespace report = model::report;  // the report model (model/report.h)

// An op's name as the report keys it: "" for memory allocated outside any scope (null in JSON).
using OpName = std::string;
// (op, device, type)
using OpKey = std::tuple<OpName, uint32_t, int>;

// Live bytes per op, over the whole recording and per process, with each op's peak.
class OpLedger {
 public:
  void Alloc(int64_t proc, const OpName& op, uint32_t device, int type, uint64_t size,
             bool counted);  // counted: an allocation event (not a snapshot's "live")
  void Free(int64_t proc, const OpName& op, uint32_t device, int type, uint64_t size);
  // `ops` of the report: per op, allocations, bytes allocated, its own peak per device and type,
  // and its share of each type's peak (`at_peak`: (device, type) -> op -> bytes at that peak).
  std::vector<report::OpReport> Report(
      const std::map<std::pair<uint32_t, int>, uint64_t>& type_peaks,
      const std::map<std::pair<uint32_t, int>, std::map<OpName, uint64_t>>& at_peak) const;
  // What process `proc` holds now, by op, device and type (non-zero only).
  const std::map<OpKey, uint64_t>& OfProcess(int64_t proc) const;

 private:
  struct Figures {
    uint64_t allocs = 0, bytes = 0;
    std::map<std::pair<uint32_t, int>, std::array<uint64_t, 2>> live;  // cur, peak
  };
  std::map<OpName, Figures> ops_;
  std::map<int64_t, std::map<OpKey, uint64_t>> by_proc_;
};

// Phase marks (ttmem_mark): what the marking process held at each, and for every name it marked
// more than once, the growth between its first and last mark (per device and type, and by op),
// with the smallest and largest step between consecutive marks.
class Phases {
 public:
  // `held`: (device, type) -> bytes the process holds now; `by_op`: the OpLedger's view of it.
  void Mark(int64_t proc, int64_t pid, const std::string& name, const OpName& scope,
            int64_t time_ns, double offset_s,
            const std::map<std::pair<uint32_t, int>, uint64_t>& held,
            const std::map<OpKey, uint64_t>& by_op);
  report::PhasesReport Report() const;
  static constexpr size_t kMaxListed = 1000;  // marks listed; all are counted and measured

 private:
  struct Series {
    int64_t pid = 0;
    uint64_t marks = 0;
    std::map<std::pair<uint32_t, int>, uint64_t> first, last;
    std::map<std::pair<uint32_t, int>, std::array<int64_t, 2>> step;  // min, max
    std::map<OpKey, uint64_t> first_op, last_op;
  };
  std::vector<report::Mark> listed_;
  uint64_t total_ = 0;
  std::map<std::pair<int64_t, std::string>, Series> series_;  // (process row, name)
};

// The sizing advisor: per device, the smallest per-bank TRACE and L1_SMALL regions and the L1
// (buffers + circular buffers) per core the run needed at its peak, with the allocator's
// alignment applied to every buffer's share of a bank.
struct AdvisorDevice {
  std::string arch;
  uint32_t num_cores = 0;
  std::array<uint64_t, proto::kNumMemTypes> capacity{};
  std::array<uint32_t, proto::kNumMemTypes> bank_count{};
};
class Advisor {
 public:
  void SetDevice(uint32_t device, const AdvisorDevice& d) { devices_[device].info = d; }
  // A buffer came (+1) or went (-1).
  void Change(uint32_t device, int type, uint64_t size, int sign, int64_t time_ns, double offset_s,
              int64_t pid, const OpName& op);
  std::vector<report::Advice> Report() const;
  // The allocator's alignment of a bank's share (tt-metal's DRAM alignment: 32 B on Wormhole,
  // 64 B on Blackhole; L1: 16 B).
  static uint64_t Alignment(const std::string& arch, int type);
  uint64_t PerBank(uint32_t device, int type, uint64_t size) const;

 private:
  struct Peak {
    uint64_t cur = 0, peak = 0;
    int64_t time_ns = 0, pid = 0;
    double offset_s = 0;
    OpName op;
  };
  struct Device {
    AdvisorDevice info;
    std::array<Peak, proto::kNumMemTypes> per_bank{};  // per bank (CB, KERNEL: per core)
    uint64_t l1_cb_cur = 0;                            // L1 per bank + CB per core, now
    Peak l1_cb;                                        // and at its peak
  };
  std::map<uint32_t, Device> devices_;
};

}  // namespace ttmem::cli

#endif  // TTMEM_CLI_REPORT_OPS_H_
