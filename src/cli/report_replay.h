// report_replay.h — the first half of `ttmem report` (report.cc has the second): a recording read
// from its SQLite file (meta, devices, processes, op names, events) and replayed through the
// daemon's own ledger, once for the timeline, peaks, leaks, ops, phases and advice (Timeline), and
// again up to the last peak for the buffers live at each peak (BuffersAtPeaks).
#ifndef TTMEM_CLI_REPORT_REPLAY_H_
#define TTMEM_CLI_REPORT_REPLAY_H_

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "cli/recording.h"
#include "cli/report_ops.h"
#include "cli/report_trace.h"
#include "ledger/ledger.h"
#include "model/report.h"
#include "protocol/mem_types.h"
#include "protocol/wire.h"

namespace ttmem::cli {
namespace report = model::report;  // the report model (model/report.h)
}  // namespace ttmem::cli

namespace ttmem::cli::replay {

struct ProcInfo {
  int64_t row = 0;
  int64_t pid = 0;
  std::string name, user, cmdline;
  std::optional<int64_t> ns_pid;         // schema 3: its pid in its own pid namespace
  std::optional<std::string> container;  // schema 3: its container's id
  int64_t first_seen_ns = 0;
  std::optional<int64_t> ended_ns;
  int64_t reclaimed_bytes = 0;
  bool existing = false;
  uint64_t events = 0, allocs = 0, frees = 0, capture_allocs = 0, leaked = 0, leaked_bytes = 0;
  std::map<std::pair<uint32_t, int>, uint64_t> peak;  // (device, type) -> peak bytes
};

struct BufKey {
  int64_t proc;
  uint32_t device;
  uint64_t id;
  bool operator==(const BufKey&) const = default;
};
struct BufKeyHash {
  size_t operator()(const BufKey& k) const {
    return std::hash<uint64_t>()(k.id * 1000003u ^ static_cast<uint64_t>(k.proc) * 131u ^ k.device);
  }
};

struct Bucket {
  uint64_t max = 0;
  std::map<int64_t, uint64_t> procs;  // per-process bytes at the moment of the max
};
struct DeviceBucket {
  uint64_t max = 0;
  std::array<uint64_t, proto::kNumMemTypes> types{};
};

struct TypeState {
  uint64_t cur = 0, peak = 0;
  int64_t peak_seq = -1, peak_ns = 0;
  std::map<int64_t, uint64_t> procs;  // current, per process row
  std::vector<Bucket> buckets;
  int last_bucket = -1;
  bool seen = false;
};
struct DeviceState {
  std::array<TypeState, proto::kNumMemTypes> types;
  std::vector<DeviceBucket> buckets;
  int last_bucket = -1;
  std::array<uint64_t, proto::kNumMemTypes> cur{};
};

struct DevInfo {
  std::string arch;
  int64_t unique_id = 0;
  uint32_t num_cores = 0;
  std::array<uint64_t, proto::kNumMemTypes> capacity{}, bank_base{};
  std::array<uint32_t, proto::kNumMemTypes> bank_count{};
};

// One row of the events table.
struct Event {
  int64_t seq = 0, time_ns = 0, proc = 0;
  uint32_t device = 0;
  int type = -1;  // NULL (a free of an unknown id): -1
  int kind = 0;   // proto::EventKind
  uint64_t id = 0, address = 0, size = 0;
  bool capture = false;
  uint32_t op = 0;  // the allocating scope's id in its process (a mark: the scope it was made in)
};
// The SELECT of the events table's columns ReadEvent reads (schema 1 has no op column).
std::string EventColumns(bool has_ops);
Event ReadEvent(const Stmt& s);

// The recording replayed through the daemon's own ledger (a process row as its pid), which
// applies the rules — a duplicate allocation replaces the live one, a free of an unknown id
// changes nothing, a capture estimate holds no device memory — plus the one thing the ledger
// does not keep: when each live buffer was allocated.
class Replay {
 public:
  struct Applied {
    bool known = true;                           // false: a free of an id that is not live
    std::optional<ledger::LiveBuffer> freed;     // what a free or a reclaim took away
    std::optional<ledger::LiveBuffer> replaced;  // what a duplicate allocation replaced
    int64_t freed_allocated_ns = 0;
    std::array<bool, proto::kNumMemTypes> touched{};  // the event's device's types it concerned
    bool allocated = false;                           // an allocation that the ledger took
  };
  Applied Apply(const Event& e) {
    Applied a;
    if (e.kind == static_cast<int>(proto::EventKind::kMark)) return a;  // no figures
    const auto pid = static_cast<pid_t>(e.proc);
    const BufKey key{e.proc, e.device, e.id};
    if (e.kind == static_cast<int>(proto::EventKind::kAlloc) ||
        e.kind == static_cast<int>(proto::EventKind::kLive)) {
      if (e.type < 0 || e.type >= proto::kNumMemTypes) return a;
      ledger::LiveBuffer old;
      const bool had = ledger_.Find(pid, e.device, e.id, &old);
      if (had && !old.hooked) a.touched[old.type] = true;
      if (ledger_.Alloc(pid, e.device, static_cast<uint8_t>(e.type), e.id, e.address, e.size,
                        e.capture ? ledger::Capture::kEstimate : ledger::Capture::kNo,
                        ledger::Replay::kNo, 0,
                        static_cast<uint16_t>(e.op)) == ledger::Result::kInvalid)
        return Applied{};
      if (had) a.replaced = old;
      a.allocated = true;
      allocated_ns_[key] = e.time_ns;
      a.touched[static_cast<size_t>(e.type)] = true;
      return a;
    }
    ledger::LiveBuffer freed;
    if (ledger_.Free(pid, e.device, e.id, ledger::Replay::kNo, &freed) != ledger::Result::kOk) {
      a.known = false;
      return a;
    }
    a.freed = freed;
    auto it = allocated_ns_.find(key);
    if (it != allocated_ns_.end()) {
      a.freed_allocated_ns = it->second;
      allocated_ns_.erase(it);
    }
    a.touched[freed.type] = true;
    return a;
  }
  uint64_t DeviceBytes(uint32_t device, int t) const {
    auto d = ledger_.devices().find(device);
    return d == ledger_.devices().end() ? 0 : d->second.usage[static_cast<size_t>(t)].bytes;
  }
  uint64_t ProcessBytes(int64_t proc, uint32_t device, int t) const {
    auto p = ledger_.processes().find(static_cast<pid_t>(proc));
    if (p == ledger_.processes().end()) return 0;
    auto u = p->second.usage.find(device);
    return u == p->second.usage.end() ? 0 : u->second[static_cast<size_t>(t)].bytes;
  }
  // What process `proc` holds now: (device, type) -> bytes, non-zero only.
  std::map<std::pair<uint32_t, int>, uint64_t> Held(int64_t proc) const {
    std::map<std::pair<uint32_t, int>, uint64_t> out;
    auto p = ledger_.processes().find(static_cast<pid_t>(proc));
    if (p == ledger_.processes().end()) return out;
    for (const auto& [device, usage] : p->second.usage)
      for (int t = 0; t < proto::kNumMemTypes; ++t)
        if (usage[static_cast<size_t>(t)].bytes != 0)
          out[{device, t}] = usage[static_cast<size_t>(t)].bytes;
    return out;
  }
  uint64_t LiveCount() const {
    uint64_t n = 0;
    for (const auto& [pid, p] : ledger_.processes()) n += p.live.size();
    return n;
  }
  // The live (not capture) buffers of `device` and type `t`, each with its allocation time.
  template <typename Fn>
  void ForEachLive(uint32_t device, int t, Fn fn) const {
    for (const auto& [pid, p] : ledger_.processes())
      for (const ledger::LiveEntry& e : p.live)
        if (e.device == device && e.type == t && e.hooked == 0)
          fn(int64_t{pid}, e, allocated_ns_.at(BufKey{pid, device, e.id}));
  }

 private:
  ledger::Ledger ledger_;
  std::unordered_map<BufKey, int64_t, BufKeyHash> allocated_ns_;
};

// What the report reads besides events: the recording's meta table, devices, processes.
struct Recording {
  std::map<std::string, std::string> meta;
  std::map<uint32_t, DevInfo> devices;
  std::map<int64_t, ProcInfo> procs;
  std::map<std::pair<int64_t, uint32_t>, std::string> op_names;  // (process row, id) -> name
  bool has_ops = false;                                          // schema 2 and later
  int64_t t0 = 0, t1 = 0;                                        // the time range, ns
  // The name of op `id` of process row `proc`: "" for none, "op#ID" when its name never came.
  std::string OpName(int64_t proc, uint32_t id) const {
    if (id == 0) return "";
    auto it = op_names.find({proc, id});
    return it != op_names.end() ? it->second : fmt::format("op#{}", id);
  }
  double Offset(int64_t ns) const { return static_cast<double>(ns - t0) / 1e9; }
  int64_t MetaI64(const char* k) const {
    auto it = meta.find(k);
    try {
      return it != meta.end() ? std::stoll(it->second) : 0;
    } catch (...) {
      return 0;
    }
  }
  std::string Meta(const char* k) const {
    auto it = meta.find(k);
    return it == meta.end() ? "" : it->second;
  }
};

// The recording at `path`, opened read-only (a regular file only), and what it holds besides its
// events. False with *error saying what is wrong and what to do.
[[nodiscard]] bool OpenRecording(const std::string& path, Db* db, std::string* error);
[[nodiscard]] bool ReadRecording(const Db& db, const std::string& path, Recording* r,
                                 std::string* error);

// The first pass: per device and type the current bytes, the peak and its moment, and a
// timeline of `nb` buckets (each keeps its maximum and who held what then); per process its
// counts and peaks; the leaks (buffers reclaimed when their process ended).
class Timeline {
 public:
  Timeline(Recording& rec, uint32_t nb) : rec_(rec), nb_(nb) {
    for (const auto& [id, d] : rec.devices)
      advisor.SetDevice(id, AdvisorDevice{d.arch, d.num_cores, d.capacity, d.bank_count});
  }
  void Add(const Event& e, Replay& replay);
  void Finish();  // buckets after the last event keep the final state

  TraceWriter* trace = nullptr;  // --trace: fed as the replay goes
  OpLedger ops;                  // live bytes by op
  Phases phases;                 // the marks
  Advisor advisor;               // the sizing advice

  std::map<uint32_t, DeviceState> devs;
  std::vector<report::Leak> leaks;
  uint64_t leaked_bytes = 0, events = 0, unknown_frees = 0;

 private:
  int BucketOf(int64_t t) const {
    const double f = static_cast<double>(t - rec_.t0) / static_cast<double>(rec_.t1 - rec_.t0);
    return std::clamp(static_cast<int>(f * nb_), 0, static_cast<int>(nb_) - 1);
  }
  void Count(const Event& e, const Replay::Applied& a);
  void Attribute(const Event& e, const Replay::Applied& a);
  void Move(const Event& e, int t, const Replay& replay);
  Recording& rec_;
  uint32_t nb_;
};

using PeakBuffers = std::map<std::pair<uint32_t, int>, std::vector<report::PeakBuffer>>;

// The second pass: replayed again up to the last peak, the buffers live at each (device, type)'s
// peak, largest first.
[[nodiscard]] bool BuffersAtPeaks(const Db& db, const Timeline& tl, const Recording& rec,
                                  PeakBuffers* out, std::string* error);

}  // namespace ttmem::cli::replay

#endif  // TTMEM_CLI_REPORT_REPLAY_H_
