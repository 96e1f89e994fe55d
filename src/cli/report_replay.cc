#include "cli/report_replay.h"

#include <sys/stat.h>

#include <algorithm>

namespace ttmem::cli::replay {

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

namespace {

// The devices and their capacities.
void ReadDevices(const Db& db, Recording* r) {
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
    if (t < 0 || t >= proto::kNumMemTypes) continue;
    DevInfo& d = r->devices[static_cast<uint32_t>(c.Int(0))];
    d.capacity[t] = static_cast<uint64_t>(c.Int(2));
    d.bank_count[t] = static_cast<uint32_t>(c.Int(3));
    d.bank_base[t] = static_cast<uint64_t>(c.Int(4));
  }
}

// The processes (with their containers from schema 3).
void ReadProcesses(const Db& db, const RecordingSchema& schema, Recording* r) {
  const bool has_containers = schema.has_containers();
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
}

}  // namespace

bool ReadRecording(const Db& db, const std::string& path, Recording* r, std::string* error) {
  Stmt m(db, "SELECT key, value FROM meta");
  if (!m.ok()) {
    *error = fmt::format("{} is not a ttmem recording (no meta table: {})", path, db.Message());
    return false;
  }
  while (m.Step() == SQLITE_ROW) r->meta[m.Text(0)] = m.Text(1);
  const RecordingSchema schema = RecordingSchema::Of(r->Meta("schema_version"));
  if (schema.version == 0) {
    *error = fmt::format("{} has recording schema '{}'; this ttmem reads schemas 1 to {}", path,
                         r->Meta("schema_version"), kRecordingSchemaVersion);
    return false;
  }
  ReadDevices(db, r);
  ReadProcesses(db, schema, r);
  r->has_ops = schema.has_ops();
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
  for (int t = 0; t < proto::kNumMemTypes; ++t)
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
    if (e.type < 0 || e.type >= proto::kNumMemTypes) return;
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
    leaks.push_back({p.pid, p.name, e.device, std::string(proto::MemTypeKey(a.freed->type)), e.id,
                     a.freed->address, a.freed->size, a.freed_allocated_ns, e.time_ns});
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

bool BuffersAtPeaks(const Db& db, const Timeline& tl, const Recording& rec, PeakBuffers* out,
                    std::string* error) {
  std::map<int64_t, std::vector<std::pair<uint32_t, int>>> peaks_at;  // seq -> (device, type)
  for (const auto& [id, d] : tl.devs)
    for (int t = 0; t < proto::kNumMemTypes; ++t)
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

}  // namespace ttmem::cli::replay
