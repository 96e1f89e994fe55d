#include "cli/recording_writer.h"

#include <fmt/format.h>

#include "protocol/mem_types.h"

namespace ttmem::cli {
namespace {

int64_t I64(uint64_t v) {  // SQLite integers are signed
  return static_cast<int64_t>(v);
}

constexpr const char* kEventInsert =
    "INSERT INTO events(time_ns, process, pid, device, type, kind, buffer_id, address, size, "
    "capture, resync, op) VALUES ";
constexpr const char* kEventValues = "(?,?,?,?,?,?,?,?,?,?,?,?)";

std::string EventsInsert(size_t rows) {
  std::string sql = kEventInsert;
  for (size_t r = 0; r < rows; ++r) sql += (r == 0 ? "" : ",") + std::string(kEventValues);
  return sql;
}

template <typename T>
void BindOpt(Stmt& st, int i, const std::optional<T>& v) {
  if (v)
    st.Bind(i, *v);
  else
    st.BindNull(i);
}

}  // namespace

RecordingWriter::RecordingWriter(Db& db)
    : db_(db),
      event_(db, EventsInsert(1).c_str()),
      events_(db, EventsInsert(kRowsPerInsert).c_str()),
      process_(db,
               "INSERT INTO processes(pid, name, cmdline, uid, user, started_unix_ms, "
               "first_seen_ns, existing, ns_pid, container) VALUES (?,?,?,?,?,?,?,?,?,?)"),
      process_end_(db, "UPDATE processes SET ended_ns = ?, reclaimed_bytes = ? WHERE id = ?"),
      device_(db,
              "INSERT OR REPLACE INTO devices(id, arch, unique_id, num_cores, first_seen_ns) "
              "VALUES (?,?,?,?,COALESCE((SELECT first_seen_ns FROM devices WHERE id = ?), ?))"),
      capacity_(db, "INSERT OR REPLACE INTO capacities VALUES (?,?,?,?,?)"),
      op_name_(db, "INSERT OR REPLACE INTO op_names(process, id, name) VALUES (?,?,?)") {}

bool RecordingWriter::ok() const {
  return event_.ok() && events_.ok() && process_.ok() && process_end_.ok() && device_.ok() &&
         capacity_.ok() && op_name_.ok();
}

bool RecordingWriter::Begin(std::string* error) {
  if (in_tx_) return true;
  in_tx_ = db_.Exec("BEGIN", error);
  return in_tx_;
}

bool RecordingWriter::Commit(std::string* error) {
  if (!in_tx_) return true;
  in_tx_ = false;
  return db_.Exec("COMMIT", error);
}

bool RecordingWriter::Fail(const char* what, std::string* error) {
  *error = fmt::format("writing {}: {}", what, db_.Message());
  return false;
}

void RecordingWriter::BindEvent(Stmt& st, int base, const proto::EventRecord& e, int64_t row) {
  st.Bind(base + kTime, I64(e.time_ns)).Bind(base + kProcess, row).Bind(base + kPid, e.pid);
  st.Bind(base + kDevice, e.device);
  if (e.type == proto::kEventNoType)
    st.BindNull(base + kType);
  else
    st.Bind(base + kType, e.type);
  st.Bind(base + kKind, e.kind).Bind(base + kBufferId, I64(e.buffer_id));
  st.Bind(base + kAddress, I64(e.address)).Bind(base + kSize, I64(e.size));
  st.Bind(base + kCapture, (e.flags & proto::kEventFlagHooked) ? 1 : 0);
  st.Bind(base + kResync, (e.flags & proto::kEventFlagResync) ? 1 : 0);
  if (e.op == 0)
    st.BindNull(base + kOp);
  else
    st.Bind(base + kOp, e.op);
}

bool RecordingWriter::Events(const proto::EventRecord* events, const int64_t* rows, size_t n,
                             std::string* error) {
  size_t i = 0;
  // Many rows per statement: SQLite's per-statement cost is most of a single-row insert's.
  for (; i + kRowsPerInsert <= n; i += kRowsPerInsert) {
    for (size_t r = 0; r < kRowsPerInsert; ++r)
      BindEvent(events_, static_cast<int>(r) * kEventColumns, events[i + r], rows[i + r]);
    if (!events_.Run()) return Fail("events", error);
  }
  for (; i < n; ++i) {
    BindEvent(event_, 0, events[i], rows[i]);
    if (!event_.Run()) return Fail("an event", error);
  }
  return true;
}

bool RecordingWriter::Process(const ProcessValues& p, int64_t* row, std::string* error) {
  process_.Bind(1, p.pid);
  BindOpt(process_, 2, p.name);
  BindOpt(process_, 3, p.cmdline);
  BindOpt(process_, 4, p.uid);
  BindOpt(process_, 5, p.user);
  BindOpt(process_, 6, p.started_unix_ms);
  process_.Bind(7, p.first_seen_ns).Bind(8, p.existing ? 1 : 0);
  BindOpt(process_, 9, p.ns_pid);
  BindOpt(process_, 10, p.container);
  if (!process_.Run()) return Fail("a process", error);
  *row = sqlite3_last_insert_rowid(db_.get());
  return true;
}

bool RecordingWriter::ProcessEnd(int64_t row, uint64_t time_ns, uint64_t reclaimed_bytes,
                                 std::string* error) {
  process_end_.Bind(1, I64(time_ns)).Bind(2, I64(reclaimed_bytes)).Bind(3, row);
  return process_end_.Run() || Fail("a process end", error);
}

bool RecordingWriter::Device(const model::DeviceNotice& d, uint64_t now_ns, std::string* error) {
  const int64_t dev = d.device;
  device_.Bind(1, dev).Bind(2, d.arch).Bind(3, I64(d.unique_id.value_or(0)));
  device_.Bind(4, I64(d.num_cores)).Bind(5, dev).Bind(6, I64(now_ns));
  if (!device_.Run()) return Fail("a device", error);
  for (size_t t = 0; t < proto::kNumMemTypes; ++t) {
    capacity_.Bind(1, dev).Bind(2, static_cast<int64_t>(t));
    capacity_.Bind(3, I64(d.capacity_bytes[t])).Bind(4, I64(d.bank_count[t]));
    capacity_.Bind(5, I64(d.bank_base[t]));
    if (!capacity_.Run()) return Fail("a capacity", error);
  }
  return true;
}

bool RecordingWriter::OpName(int64_t row, uint64_t id, const std::string& name,
                             std::string* error) {
  op_name_.Bind(1, row).Bind(2, I64(id)).Bind(3, name);
  return op_name_.Run() || Fail("an op name", error);
}

bool RecordingWriter::Meta(Db& db, const std::string& key, const std::string& value,
                           std::string* error) {
  Stmt s(db, "INSERT OR REPLACE INTO meta VALUES (?,?)");
  if (!s.ok() || !s.Bind(1, key).Bind(2, value).Run()) {
    *error = fmt::format("writing meta {}: {}", key, db.Message());
    return false;
  }
  return true;
}

}  // namespace ttmem::cli
