// ttmem report: peaks, buffers live at each peak, leaks and processes of a recording.
#include "cli/report.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/recording.h"
#include "cli/report_ops.h"
#include "cli/report_trace.h"
#include "ledger/ledger.h"
#include "protocol/mem_types.h"
#include "protocol/wire.h"

namespace ttmem::cli {
namespace {

constexpr int kTypes = static_cast<int>(proto::kNumMemTypes);

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
  std::array<uint64_t, kTypes> types{};
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
  std::array<TypeState, kTypes> types;
  std::vector<DeviceBucket> buckets;
  int last_bucket = -1;
  std::array<uint64_t, kTypes> cur{};
};

std::string TypeName(int t) {
  return t >= 0 && t < kTypes ? std::string(proto::kMemTypeKeys[static_cast<size_t>(t)]) : "?";
}

struct DevInfo {
  std::string arch;
  int64_t unique_id = 0;
  uint32_t num_cores = 0;
  std::array<uint64_t, kTypes> capacity{}, bank_base{};
  std::array<uint32_t, kTypes> bank_count{};
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
// Schema 1 has no op column: its events carry none.
std::string EventColumns(bool has_ops) {
  return fmt::format(
      "SELECT seq, time_ns, process, device, type, kind, buffer_id, address, size, capture, {} "
      "FROM events",
      has_ops ? "COALESCE(op, 0)" : "0");
}
Event ReadEvent(const Stmt& s) {
  Event e;
  e.seq = s.Int(0);
  e.time_ns = s.Int(1);
  e.proc = s.Int(2);
  e.device = static_cast<uint32_t>(s.Int(3));
  e.type = s.IsNull(4) ? -1 : static_cast<int>(s.Int(4));
  e.kind = static_cast<int>(s.Int(5));
  e.id = static_cast<uint64_t>(s.Int(6));
  e.address = static_cast<uint64_t>(s.Int(7));
  e.size = static_cast<uint64_t>(s.Int(8));
  e.capture = s.Int(9) != 0;
  const int64_t op = s.Int(10);
  e.op = op > 0 && op <= 0xFFFF ? static_cast<uint32_t>(op) : 0;
  return e;
}

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
    std::array<bool, kTypes> touched{};  // the event's device's types it concerned
    bool allocated = false;              // an allocation that the ledger took
  };
  Applied Apply(const Event& e) {
    Applied a;
    if (e.kind == static_cast<int>(proto::EventKind::kMark)) return a;  // no figures
    const auto pid = static_cast<pid_t>(e.proc);
    const BufKey key{e.proc, e.device, e.id};
    if (e.kind == static_cast<int>(proto::EventKind::kAlloc) ||
        e.kind == static_cast<int>(proto::EventKind::kLive)) {
      if (e.type < 0 || e.type >= kTypes) return a;
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
      for (int t = 0; t < kTypes; ++t)
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

bool OpenRecording(const std::string& path, Db* db, std::string* error) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    *error = fmt::format("{} does not exist (write one with: ttmem record -o {})", path, path);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {  // a FIFO or a device would block or never end
    *error = fmt::format(
        "{} is not a regular file (a recording is an SQLite file written by "
        "ttmem record -o FILE)",
        path);
    return false;
  }
  return db->Open(path, SQLITE_OPEN_READONLY, error);
}

bool ReadRecording(const Db& db, const std::string& path, Recording* r, std::string* error) {
  Stmt m(db, "SELECT key, value FROM meta");
  if (!m.ok()) {
    *error = fmt::format("{} is not a ttmem recording (no meta table: {})", path, db.Message());
    return false;
  }
  while (m.Step() == SQLITE_ROW) r->meta[m.Text(0)] = m.Text(1);
  const std::string schema = r->Meta("schema_version");
  if (schema != "1" && schema != "2" && schema != std::to_string(kRecordingSchemaVersion)) {
    *error = fmt::format("{} has recording schema '{}'; this ttmem reads schemas 1 to {}", path,
                         r->Meta("schema_version"), kRecordingSchemaVersion);
    return false;
  }
  Stmt s(db, "SELECT id, arch, unique_id, num_cores FROM devices");
  while (s.ok() && s.Step() == SQLITE_ROW) {
    DevInfo& d = r->devices[static_cast<uint32_t>(s.Int(0))];
    d.arch = s.Text(1);
    d.unique_id = s.Int(2);
    d.num_cores = static_cast<uint32_t>(std::max<int64_t>(0, s.Int(3)));
  }
  Stmt c(db, "SELECT device, type, capacity_bytes, bank_count, bank_base FROM capacities");
  while (c.ok() && c.Step() == SQLITE_ROW) {
    const int t = static_cast<int>(c.Int(1));
    if (t < 0 || t >= kTypes) continue;
    DevInfo& d = r->devices[static_cast<uint32_t>(c.Int(0))];
    d.capacity[t] = static_cast<uint64_t>(c.Int(2));
    d.bank_count[t] = static_cast<uint32_t>(c.Int(3));
    d.bank_base[t] = static_cast<uint64_t>(c.Int(4));
  }
  const bool has_containers = schema != "1" && schema != "2";
  Stmt p(db, fmt::format("SELECT id, pid, name, user, cmdline, first_seen_ns, ended_ns, "
                         "reclaimed_bytes, existing, {} FROM processes",
                         has_containers ? "ns_pid, container" : "NULL, NULL")
                 .c_str());
  while (p.ok() && p.Step() == SQLITE_ROW) {
    ProcInfo& pi = r->procs[p.Int(0)];
    pi.row = p.Int(0);
    pi.pid = p.Int(1);
    pi.name = p.Text(2);
    pi.user = p.Text(3);
    pi.cmdline = p.Text(4);
    pi.first_seen_ns = p.Int(5);
    if (!p.IsNull(6)) pi.ended_ns = p.Int(6);
    pi.reclaimed_bytes = p.Int(7);
    if (!p.IsNull(9)) pi.ns_pid = p.Int(9);
    if (!p.IsNull(10)) pi.container = p.Text(10);
    pi.existing = p.Int(8) != 0;
  }
  r->has_ops = r->Meta("schema_version") != "1";
  if (r->has_ops) {
    Stmt o(db, "SELECT process, id, name FROM op_names");
    while (o.ok() && o.Step() == SQLITE_ROW)
      r->op_names[{o.Int(0), static_cast<uint32_t>(o.Int(1))}] = o.Text(2);
  }
  r->t0 = r->MetaI64("started_ns");
  r->t1 = r->MetaI64("ended_ns");
  Stmt range(db, "SELECT MIN(time_ns), MAX(time_ns), COUNT(*) FROM events");
  if (range.ok() && range.Step() == SQLITE_ROW && range.Int(2) > 0) {
    r->t0 = r->t0 == 0 ? range.Int(0) : std::min(r->t0, range.Int(0));
    r->t1 = std::max(r->t1, range.Int(1));
  }
  if (r->t1 <= r->t0) r->t1 = r->t0 + 1;
  return true;
}

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

void Timeline::Add(const Event& e, Replay& replay) {
  if (e.kind == static_cast<int>(proto::EventKind::kMark)) {  // a phase marker: no figures
    if (trace != nullptr)
      trace->Mark(e.time_ns, rec_.procs[e.proc].pid,
                  rec_.OpName(e.proc, static_cast<uint32_t>(e.id)));
    phases.Mark(e.proc, rec_.procs[e.proc].pid, rec_.OpName(e.proc, static_cast<uint32_t>(e.id)),
                rec_.OpName(e.proc, e.op), e.time_ns, rec_.Offset(e.time_ns), replay.Held(e.proc),
                ops.OfProcess(e.proc));
    return;
  }
  ++events;
  ++rec_.procs[e.proc].events;
  const Replay::Applied a = replay.Apply(e);
  Attribute(e, a);
  Count(e, a);
  for (int t = 0; t < kTypes; ++t)
    if (a.touched[static_cast<size_t>(t)]) Move(e, t, replay);
}

// The op ledger and the advisor follow the replay: what went (freed, reclaimed or replaced) and
// what came, capture estimates left out.
void Timeline::Attribute(const Event& e, const Replay::Applied& a) {
  const int64_t pid = rec_.procs[e.proc].pid;
  const double at = rec_.Offset(e.time_ns);
  auto gone = [&](const ledger::LiveBuffer& b) {
    if (b.hooked) return;
    const std::string op = rec_.OpName(e.proc, b.op);
    ops.Free(e.proc, op, e.device, b.type, b.size);
    advisor.Change(e.device, b.type, b.size, -1, e.time_ns, at, pid, op);
  };
  if (a.replaced) gone(*a.replaced);
  if (a.freed) gone(*a.freed);
  if (!a.allocated || e.capture) return;
  const std::string op = rec_.OpName(e.proc, e.op);
  ops.Alloc(e.proc, op, e.device, e.type, e.size,
            e.kind == static_cast<int>(proto::EventKind::kAlloc));
  advisor.Change(e.device, e.type, e.size, +1, e.time_ns, at, pid, op);
  if (trace != nullptr) trace->Allocation(e.time_ns, pid, op, e.size);
}

void Timeline::Count(const Event& e, const Replay::Applied& a) {
  ProcInfo& p = rec_.procs[e.proc];
  const bool alloc = e.kind == static_cast<int>(proto::EventKind::kAlloc) ||
                     e.kind == static_cast<int>(proto::EventKind::kLive);
  if (alloc) {
    if (e.type < 0 || e.type >= kTypes) return;
    if (e.kind == static_cast<int>(proto::EventKind::kAlloc)) ++p.allocs;
    if (e.capture) ++p.capture_allocs;
    return;
  }
  if (!a.known) {
    ++unknown_frees;
    return;
  }
  if (e.kind == static_cast<int>(proto::EventKind::kFree)) {
    ++p.frees;
  } else if (!a.freed->hooked) {  // reclaim: live when its process ended
    ++p.leaked;
    p.leaked_bytes += a.freed->size;
    leaked_bytes += a.freed->size;
    leaks.push_back({p.pid, p.name, e.device, TypeName(a.freed->type), e.id, a.freed->address,
                     a.freed->size, a.freed_allocated_ns, e.time_ns});
  }
}

void Timeline::Move(const Event& e, int t, const Replay& replay) {
  DeviceState& d = devs[e.device];
  if (d.buckets.empty()) d.buckets.resize(nb_);
  TypeState& ts = d.types[static_cast<size_t>(t)];
  if (ts.buckets.empty()) ts.buckets.resize(nb_);
  const int b = BucketOf(e.time_ns);
  // Buckets without events carry the state they began with.
  for (int i = ts.last_bucket + 1; i <= b; ++i)
    ts.buckets[static_cast<size_t>(i)] = Bucket{ts.cur, ts.procs};
  ts.last_bucket = std::max(ts.last_bucket, b);
  if (d.last_bucket < b) {
    uint64_t total = 0;
    for (uint64_t v : d.cur) total += v;
    for (int i = d.last_bucket + 1; i <= b; ++i)
      d.buckets[static_cast<size_t>(i)] = DeviceBucket{total, d.cur};
    d.last_bucket = b;
  }
  ts.seen = true;
  ts.cur = replay.DeviceBytes(e.device, t);
  d.cur[static_cast<size_t>(t)] = ts.cur;
  const uint64_t pc = ts.procs[e.proc] = replay.ProcessBytes(e.proc, e.device, t);
  if (trace != nullptr) trace->Counter(e.time_ns, e.device, t, ts.cur, rec_.procs[e.proc].pid, pc);
  uint64_t& ppeak = rec_.procs[e.proc].peak[{e.device, t}];
  ppeak = std::max(ppeak, pc);
  if (ts.cur > ts.peak) {
    ts.peak = ts.cur;
    ts.peak_seq = e.seq;
    ts.peak_ns = e.time_ns;
  }
  Bucket& bk = ts.buckets[static_cast<size_t>(b)];
  if (ts.cur > bk.max) {
    bk.max = ts.cur;
    bk.procs = ts.procs;
  }
  uint64_t total = 0;
  for (uint64_t v : d.cur) total += v;
  DeviceBucket& dbk = d.buckets[static_cast<size_t>(b)];
  if (total > dbk.max) {
    dbk.max = total;
    dbk.types = d.cur;
  }
}

void Timeline::Finish() {
  for (auto& [id, d] : devs) {
    uint64_t total = 0;
    for (uint64_t v : d.cur) total += v;
    for (int i = d.last_bucket + 1; i < static_cast<int>(nb_); ++i)
      d.buckets[static_cast<size_t>(i)] = DeviceBucket{total, d.cur};
    for (TypeState& ts : d.types) {
      if (!ts.seen) continue;
      for (int i = ts.last_bucket + 1; i < static_cast<int>(nb_); ++i)
        ts.buckets[static_cast<size_t>(i)] = Bucket{ts.cur, ts.procs};
    }
  }
}

using PeakBuffers = std::map<std::pair<uint32_t, int>, std::vector<report::PeakBuffer>>;

// The second pass: replayed again up to the last peak, the buffers live at each (device, type)'s
// peak, largest first.
bool BuffersAtPeaks(const Db& db, const Timeline& tl, const Recording& rec, PeakBuffers* out,
                    std::string* error) {
  std::map<int64_t, std::vector<std::pair<uint32_t, int>>> peaks_at;  // seq -> (device, type)
  for (const auto& [id, d] : tl.devs)
    for (int t = 0; t < kTypes; ++t)
      if (d.types[static_cast<size_t>(t)].peak_seq >= 0)
        peaks_at[d.types[static_cast<size_t>(t)].peak_seq].push_back({id, t});
  if (peaks_at.empty()) return true;
  Stmt s(db, fmt::format("{} WHERE seq <= ? ORDER BY seq", EventColumns(rec.has_ops)).c_str());
  if (!s.ok()) {
    *error = fmt::format("cannot read events: {}", db.Message());
    return false;
  }
  s.Bind(1, peaks_at.rbegin()->first);
  Replay replay;
  while (s.Step() == SQLITE_ROW) {
    const Event e = ReadEvent(s);
    replay.Apply(e);
    auto pk = peaks_at.find(e.seq);
    if (pk == peaks_at.end()) continue;
    for (auto [device, t] : pk->second) {
      auto& list = (*out)[{device, t}];
      replay.ForEachLive(device, t, [&](int64_t proc, const ledger::LiveEntry& b, int64_t at) {
        const ProcInfo& p = rec.procs.at(proc);
        const std::string op = rec.OpName(proc, b.op);
        list.push_back({p.pid, p.name, op.empty() ? report::Op() : report::Op(op), b.id, b.address,
                        uint64_t{b.size}, at});
      });
      std::sort(list.begin(), list.end(),
                [](const report::PeakBuffer& a, const report::PeakBuffer& b) {
                  return a.size != b.size ? a.size > b.size : a.address < b.address;
                });
    }
  }
  return true;
}

// Bytes by op in a list of buffers ("" for those made outside any scope).
std::map<OpName, std::array<uint64_t, 2>> BytesByOp(const std::vector<report::PeakBuffer>& list) {
  std::map<OpName, std::array<uint64_t, 2>> out;
  for (const report::PeakBuffer& b : list) {
    auto& v = out[b.op.value_or("")];
    v[0] += b.size;
    ++v[1];
  }
  return out;
}

// The ops holding memory at a type's peak, largest first, each with its share of the peak.
std::vector<report::OpShare> ByOpAtPeak(const std::vector<report::PeakBuffer>& list,
                                        uint64_t peak) {
  std::vector<std::pair<OpName, std::array<uint64_t, 2>>> rows;
  for (const auto& row : BytesByOp(list)) rows.push_back(row);
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a.second[0] > b.second[0]; });
  std::vector<report::OpShare> out;
  for (const auto& [op, v] : rows)
    out.push_back({op.empty() ? report::Op() : report::Op(op), v[0], v[1],
                   peak == 0 ? 0.0 : static_cast<double>(v[0]) / static_cast<double>(peak)});
  return out;
}

report::TypeReport TypeDocument(int t, const TypeState& ts, const DevInfo& info,
                                const std::vector<report::PeakBuffer>& list, uint32_t top,
                                const Recording& rec) {
  report::TypeReport r;
  r.type = TypeName(t);
  r.peak_bytes = ts.peak;
  r.peak_time_ns = ts.peak_ns;
  r.peak_offset_s = static_cast<double>(ts.peak_ns - rec.t0) / 1e9;
  r.final_bytes = ts.cur;
  r.buffers_at_peak = list.size();
  for (const report::PeakBuffer& b : list) r.bytes_at_peak += b.size;
  // The address map keeps every buffer (up to 5000), the listing the largest `top`.
  for (size_t i = 0; i < list.size(); ++i) {
    if (i < top) r.top_buffers.push_back(list[i]);
    if (i < 5000) r.map_at_peak.push_back({list[i].pid, list[i].address, list[i].size, list[i].op});
  }
  r.by_op_at_peak = ByOpAtPeak(list, ts.peak);
  for (const Bucket& b : ts.buckets) {
    report::TimelineBucket& tb = r.timeline.emplace_back();
    tb.max = b.max;
    for (const auto& [proc, v] : b.procs)
      if (v != 0) tb.by_pid[rec.procs.at(proc).pid] = v;
  }
  if (info.capacity[t] != 0) r.capacity_bytes = info.capacity[t];
  if (info.bank_count[t] != 0) {
    r.bank_count = info.bank_count[t];
    r.bank_base = info.bank_base[t];
  }
  return r;
}

std::vector<report::DeviceReport> DevicesDocument(Timeline& tl, Recording& rec,
                                                  PeakBuffers& at_peak, uint32_t top, uint32_t nb) {
  std::vector<report::DeviceReport> devices;
  std::set<uint32_t> ids;
  for (const auto& [id, d] : tl.devs) ids.insert(id);
  for (const auto& [id, d] : rec.devices) ids.insert(id);
  for (uint32_t id : ids) {
    const DevInfo& info = rec.devices[id];
    DeviceState& d = tl.devs[id];
    if (d.buckets.empty()) d.buckets.resize(nb);
    report::DeviceReport& dr = devices.emplace_back();
    dr.id = id;
    dr.arch = info.arch;
    dr.unique_id = info.unique_id;
    for (int t = 0; t < kTypes; ++t)
      if (d.types[static_cast<size_t>(t)].seen)
        dr.types.push_back(
            TypeDocument(t, d.types[static_cast<size_t>(t)], info, at_peak[{id, t}], top, rec));
    for (const DeviceBucket& b : d.buckets) {
      auto& bt = dr.timeline_by_type.emplace_back();
      for (int t = 0; t < kTypes; ++t)
        if (b.types[static_cast<size_t>(t)] != 0) bt[TypeName(t)] = b.types[static_cast<size_t>(t)];
    }
  }
  return devices;
}

std::vector<report::ProcessReport> ProcessesDocument(const Recording& rec) {
  std::vector<report::ProcessReport> out;
  for (const auto& [row, p] : rec.procs) {
    report::ProcessReport& x = out.emplace_back();
    x.pid = p.pid;
    x.name = p.name;
    x.user = p.user;
    x.cmdline = p.cmdline;
    x.first_seen_ns = p.first_seen_ns;
    x.ended_ns = p.ended_ns;
    x.existing = p.existing;
    x.events = p.events;
    x.allocs = p.allocs;
    x.frees = p.frees;
    x.capture_allocs = p.capture_allocs;
    x.leaked_buffers = p.leaked;
    x.leaked_bytes = p.leaked_bytes;
    for (const auto& [k, v] : p.peak)
      if (v != 0) x.peak_bytes[k.first][TypeName(k.second)] = v;
    x.ns_pid = p.ns_pid;
    x.container = p.container;
  }
  return out;
}

}  // namespace

bool AnalyzeRecording(const std::string& path, uint32_t top, uint32_t buckets_n,
                      report::Report* out, std::string* error, const std::string& trace_path) {
  Db db;
  Recording rec;
  if (!OpenRecording(path, &db, error) || !ReadRecording(db, path, &rec, error)) return false;
  const uint32_t nb = std::max<uint32_t>(buckets_n, 2);
  // One pass over the events, in the order the daemon applied them.
  Timeline tl(rec, nb);
  TraceWriter trace;
  if (!trace_path.empty()) {
    if (!trace.Open(trace_path, rec.t0, error)) return false;
    tl.trace = &trace;
  }
  Replay replay;
  {
    Stmt s(db, fmt::format("{} ORDER BY seq", EventColumns(rec.has_ops)).c_str());
    if (!s.ok()) {
      *error = fmt::format("{}: cannot read events: {}", path, db.Message());
      return false;
    }
    while (s.Step() == SQLITE_ROW) tl.Add(ReadEvent(s), replay);
  }
  tl.Finish();
  if (!trace_path.empty()) {
    std::map<uint32_t, std::string> arch;
    for (const auto& [id, d] : rec.devices) arch[id] = d.arch;
    std::map<int64_t, std::string> names;
    for (const auto& [row, p] : rec.procs) names[p.pid] = p.name;
    if (!trace.Finish(arch, names, error)) return false;
  }
  PeakBuffers at_peak;
  if (!BuffersAtPeaks(db, tl, rec, &at_peak, error)) {
    *error = fmt::format("{}: {}", path, *error);
    return false;
  }
  report::Report r;
  r.recording = {path, kRecordingSchemaVersion, rec.Meta("host"), rec.Meta("command"), rec.t0,
                 rec.t1, static_cast<double>(rec.t1 - rec.t0) / 1e9, tl.events,
                 rec.MetaI64("events_lost"), tl.unknown_frees, replay.LiveCount(),
                 // The recorder stopped cleanly and the daemon confirmed the stream's end; else
                 // the last batch may be missing (a killed recorder).
                 rec.Meta("complete") == "1", std::nullopt};
  if (rec.meta.count("command_status")) r.recording.command_status = rec.MetaI64("command_status");
  r.devices = DevicesDocument(tl, rec, at_peak, top, nb);
  r.timeline_buckets = nb;
  r.leaks = std::move(tl.leaks);
  r.leaked_bytes = tl.leaked_bytes;
  r.processes = ProcessesDocument(rec);
  std::map<std::pair<uint32_t, int>, uint64_t> type_peaks;
  std::map<std::pair<uint32_t, int>, std::map<OpName, uint64_t>> op_at_peak;
  for (const auto& [id, d] : tl.devs)
    for (int t = 0; t < kTypes; ++t)
      if (d.types[static_cast<size_t>(t)].seen)
        type_peaks[{id, t}] = d.types[static_cast<size_t>(t)].peak;
  for (const auto& [key, list] : at_peak)
    for (const auto& [op, v] : BytesByOp(list)) op_at_peak[key][op] = v[0];
  r.ops = tl.ops.Report(type_peaks, op_at_peak);
  r.phases = tl.phases.Report();
  r.advice = tl.advisor.Report();
  *out = std::move(r);
  return true;
}

bool LoadReport(const std::string& path, uint32_t top, report::Report* out, std::string* error,
                const std::string& trace_path) {
  // A saved `ttmem report --json` (a baseline kept from an earlier run) reads back as it was.
  if (FILE* f = std::fopen(path.c_str(), "rb")) {
    int c = 0;
    while ((c = std::fgetc(f)) == ' ' || c == '\n' || c == '\t' || c == '\r') {
    }
    std::fclose(f);
    if (c == '{') {
      std::ifstream in(path, std::ios::binary);
      const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded()) {
        *error = fmt::format(
            "{}: not a ttmem recording, nor a report saved with --json (not "
            "valid JSON)",
            path);
        return false;
      }
      std::string why;
      if (!report::FromJson(j, out, &why)) {
        *error = fmt::format("{}: not a report saved with `ttmem report --json`: {}", path, why);
        return false;
      }
      return true;
    }
  }
  return AnalyzeRecording(path, top, 400, out, error, trace_path);
}

int RunReport(const ReportOptions& o) {
  report::Report r, baseline;
  std::string error;
  if (!AnalyzeRecording(o.input, o.top, 400, &r, &error, o.trace) ||
      (!o.baseline.empty() && !LoadReport(o.baseline, o.top, &baseline, &error, ""))) {
    PrintError(error);
    return kExitUsage;
  }
  if (!o.baseline.empty()) r.comparison = CompareReports(baseline, r, o.max_growth);
  if (!o.html.empty()) {
    const std::string html = RenderReportHtml(r);
    FILE* f = std::fopen(o.html.c_str(), "w");
    if (!f || std::fwrite(html.data(), 1, html.size(), f) != html.size() || std::fclose(f) != 0) {
      PrintError(fmt::format("cannot write {}: {}", o.html, std::strerror(errno)));
      return kExitFailure;
    }
  }
  if (o.json) {
    std::printf("%s\n", report::ToJsonText(r).c_str());
  } else {
    std::string text = RenderReportText(r) + RenderOpsText(r) + RenderPhasesText(r);
    if (o.advise) text += RenderAdviceText(r);
    if (r.comparison) text += RenderComparisonText(*r.comparison);
    std::fputs(text.c_str(), stdout);
    if (!o.html.empty()) std::printf("\nHTML report: %s\n", o.html.c_str());
    if (!o.trace.empty())
      std::printf("Trace (ui.perfetto.dev, chrome://tracing): %s\n", o.trace.c_str());
  }
  return r.comparison && r.comparison->exceeded ? kExitFailure : kExitOk;
}

}  // namespace ttmem::cli
