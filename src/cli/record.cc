// ttmem record: the daemon's event stream into SQLite (docs/recording.md).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "cli/commands.h"
#include "cli/query.h"
#include "cli/recording.h"
#include "protocol/frames.h"
#include "protocol/mem_types.h"
#include "protocol/wire.h"

namespace ttmem::cli {
namespace {

volatile std::sig_atomic_t g_stop = 0;
void OnStopSignal(int) {
  g_stop = 1;
}

uint64_t MonoMs() {
  return base::MonotonicNs() / 1000000;
}

int64_t I64(uint64_t v) {
  return static_cast<int64_t>(v);
}  // SQLite integers are signed

int64_t JsonI64(const nlohmann::json& j, const char* key) {
  if (!j.contains(key)) return 0;
  const auto& v = j[key];
  if (v.is_number_unsigned()) return I64(v.get<uint64_t>());
  if (v.is_number_integer()) return v.get<int64_t>();
  return 0;
}

std::string JsonStr(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

class Recorder {
 public:
  explicit Recorder(Db& db)
      : db_(db),
        ins_event_(db,
                   "INSERT INTO events(time_ns, process, pid, device, type, kind, buffer_id, "
                   "address, size, capture, resync) VALUES (?,?,?,?,?,?,?,?,?,?,?)"),
        ins_events_(db, MultiInsert().c_str()),
        ins_process_(db,
                     "INSERT INTO processes(pid, name, cmdline, uid, user, started_unix_ms, "
                     "first_seen_ns, existing) VALUES (?,?,?,?,?,?,?,?)"),
        end_process_(db, "UPDATE processes SET ended_ns = ?, reclaimed_bytes = ? WHERE id = ?"),
        ins_device_(db,
                    "INSERT OR REPLACE INTO devices(id, arch, unique_id, num_cores, "
                    "first_seen_ns) VALUES (?,?,?,?,COALESCE((SELECT first_seen_ns FROM "
                    "devices WHERE id = ?), ?))"),
        ins_capacity_(db, "INSERT OR REPLACE INTO capacities VALUES (?,?,?,?,?)") {}

  bool ok() const {
    return ins_event_.ok() && ins_events_.ok() && ins_process_.ok() && end_process_.ok() &&
           ins_device_.ok() && ins_capacity_.ok();
  }

  bool Begin(std::string* error) {
    if (in_tx_) return true;
    in_tx_ = db_.Exec("BEGIN", error);
    return in_tx_;
  }
  bool Commit(std::string* error) {
    if (!in_tx_) return true;
    in_tx_ = false;
    return db_.Exec("COMMIT", error);
  }

  bool Events(const uint8_t* data, size_t len, std::string* error) {
    if (len % sizeof(proto::EventRecord) != 0) {
      *error = fmt::format("an event frame of {} bytes from the daemon", len);
      return false;
    }
    if (!Begin(error)) return false;
    const size_t n = len / sizeof(proto::EventRecord);
    size_t i = 0;
    // Many rows per statement: SQLite's per-statement cost is most of a single-row insert's.
    for (; i + kRowsPerInsert <= n; i += kRowsPerInsert) {
      for (size_t r = 0; r < kRowsPerInsert; ++r)
        BindEvent(ins_events_, static_cast<int>(r) * 11,
                  data + (i + r) * sizeof(proto::EventRecord));
      if (!ins_events_.Run()) return Fail("events", error);
    }
    for (; i < n; ++i) {
      BindEvent(ins_event_, 0, data + i * sizeof(proto::EventRecord));
      if (!ins_event_.Run()) return Fail("an event", error);
    }
    events_ += n;
    return true;
  }

  // A JSON notice from the daemon. Returns false on a write error.
  bool Notice(const nlohmann::json& n, std::string* error) {
    const std::string what = JsonStr(n, "event");
    if (!Begin(error)) return false;
    if (what == "process_start") {
      const pid_t pid = static_cast<pid_t>(JsonI64(n, "pid"));
      ins_process_.Bind(1, pid).Bind(2, JsonStr(n, "name")).Bind(3, JsonStr(n, "cmdline"));
      ins_process_.Bind(4, JsonI64(n, "uid")).Bind(5, JsonStr(n, "user"));
      ins_process_.Bind(6, JsonI64(n, "started_unix_ms")).Bind(7, JsonI64(n, "time_ns"));
      ins_process_.Bind(8, n.value("existing", false) ? 1 : 0);
      if (!ins_process_.Run()) return Fail("a process", error);
      rows_[pid] = sqlite3_last_insert_rowid(db_.get());
      ++processes_;
      if (!n.value("existing", false)) running_new_.insert(pid);
    } else if (what == "process_end") {
      const pid_t pid = static_cast<pid_t>(JsonI64(n, "pid"));
      end_process_.Bind(1, JsonI64(n, "time_ns")).Bind(2, JsonI64(n, "reclaimed_bytes"));
      end_process_.Bind(3, ProcessRow(pid, static_cast<uint64_t>(JsonI64(n, "time_ns"))));
      if (!end_process_.Run()) return Fail("a process end", error);
      rows_.erase(pid);
      ended_.push_back(pid);
      running_new_.erase(pid);
    } else if (what == "device") {
      const int64_t dev = JsonI64(n, "device");
      ins_device_.Bind(1, dev).Bind(2, JsonStr(n, "arch")).Bind(3, JsonI64(n, "unique_id"));
      ins_device_.Bind(4, JsonI64(n, "num_cores")).Bind(5, dev).Bind(6, I64(base::RealtimeNs()));
      if (!ins_device_.Run()) return Fail("a device", error);
      for (size_t t = 0; t < proto::kNumMemTypes; ++t) {
        const std::string key(proto::kMemTypeKeys[t]);
        auto get = [&](const char* field) -> int64_t {
          return n.contains(field) && n[field].contains(key) && n[field][key].is_number()
                     ? I64(n[field][key].get<uint64_t>())
                     : 0;
        };
        ins_capacity_.Bind(1, dev).Bind(2, static_cast<int64_t>(t));
        ins_capacity_.Bind(3, get("capacity_bytes")).Bind(4, get("bank_count"));
        ins_capacity_.Bind(5, get("bank_base"));
        if (!ins_capacity_.Run()) return Fail("a capacity", error);
      }
    } else if (what == "lost") {
      lost_ = std::max(lost_, static_cast<uint64_t>(JsonI64(n, "total")));
    } else if (what == "flushed") {
      lost_ = std::max(lost_, static_cast<uint64_t>(JsonI64(n, "lost_total")));
      flushed_ = true;
    } else if (what == "start") {
      start_ = n;
    }
    return true;
  }

  // Processes seen to end, since the last call.
  std::vector<pid_t> TakeEnded() { return std::exchange(ended_, {}); }

  // Processes that started during the recording and have not ended.
  size_t running_new() const { return running_new_.size(); }
  bool flushed() const { return flushed_; }
  uint64_t events() const { return events_; }
  uint64_t processes() const { return processes_; }
  uint64_t lost() const { return lost_; }
  const nlohmann::json& start() const { return start_; }

 private:
  static constexpr size_t kRowsPerInsert = 64;
  static std::string MultiInsert() {
    std::string sql =
        "INSERT INTO events(time_ns, process, pid, device, type, kind, buffer_id, address, size, "
        "capture, resync) VALUES ";
    for (size_t r = 0; r < kRowsPerInsert; ++r)
      sql += r == 0 ? "(?,?,?,?,?,?,?,?,?,?,?)" : ",(?,?,?,?,?,?,?,?,?,?,?)";
    return sql;
  }
  // Binds one record to parameters base+1 .. base+11.
  void BindEvent(Stmt& st, int b, const uint8_t* raw) {
    proto::EventRecord e;
    std::memcpy(&e, raw, sizeof(e));
    st.Bind(b + 1, I64(e.time_ns)).Bind(b + 2, ProcessRow(e.pid, e.time_ns)).Bind(b + 3, e.pid);
    st.Bind(b + 4, e.device);
    if (e.type == proto::kEventNoType)
      st.BindNull(b + 5);
    else
      st.Bind(b + 5, e.type);
    st.Bind(b + 6, e.kind).Bind(b + 7, I64(e.buffer_id)).Bind(b + 8, I64(e.address));
    st.Bind(b + 9, I64(e.size));
    st.Bind(b + 10, (e.flags & proto::kEventFlagHooked) ? 1 : 0);
    st.Bind(b + 11, (e.flags & proto::kEventFlagResync) ? 1 : 0);
  }
  bool Fail(const char* what, std::string* error) {
    *error = fmt::format("writing {}: {}", what, db_.Message());
    return false;
  }
  // The processes row of pid now; one is made for a pid the daemon never introduced.
  int64_t ProcessRow(pid_t pid, uint64_t time_ns) {
    auto it = rows_.find(pid);
    if (it != rows_.end()) return it->second;
    ins_process_.Bind(1, pid).BindNull(2).BindNull(3).BindNull(4).BindNull(5).BindNull(6);
    ins_process_.Bind(7, I64(time_ns)).Bind(8, 0);
    ins_process_.Run();
    const int64_t row = sqlite3_last_insert_rowid(db_.get());
    rows_[pid] = row;
    ++processes_;
    return row;
  }

  Db& db_;
  Stmt ins_event_, ins_events_, ins_process_, end_process_, ins_device_, ins_capacity_;
  std::map<pid_t, int64_t> rows_;
  std::vector<pid_t> ended_;
  std::set<pid_t> running_new_;
  bool in_tx_ = false;
  bool flushed_ = false;
  uint64_t events_ = 0, processes_ = 0, lost_ = 0;
  nlohmann::json start_;
};

bool SetMeta(Db& db, const std::string& key, const std::string& value, std::string* error) {
  Stmt s(db, "INSERT OR REPLACE INTO meta VALUES (?,?)");
  if (!s.ok() || !s.Bind(1, key).Bind(2, value).Run()) {
    *error = fmt::format("writing meta {}: {}", key, db.Message());
    return false;
  }
  return true;
}

std::string Hostname() {
  char h[256] = {};
  ::gethostname(h, sizeof(h) - 1);
  return h;
}

}  // namespace

int RunRecord(const RecordOptions& o) {
  if (o.output.empty()) {
    PrintError("record needs an output file: ttmem record -o FILE.sqlite [-- CMD ARGS...]");
    return kExitUsage;
  }
  struct stat st;
  if (::stat(o.output.c_str(), &st) == 0) {
    if (!o.force) {
      PrintError(fmt::format(
          "{} already exists: choose another file, or pass --force to replace it", o.output));
      return kExitUsage;
    }
    if (::unlink(o.output.c_str()) != 0) {
      PrintError(fmt::format("cannot replace {}: {}", o.output, std::strerror(errno)));
      return kExitFailure;
    }
    ::unlink((o.output + "-wal").c_str());
    ::unlink((o.output + "-shm").c_str());
  }
  // Subscribe first, so that nothing CMD does is missed.
  QueryClient q(o.socket);
  std::string error;
  nlohmann::json req = {{"cmd", "events"}};
  if (o.pid > 0) req["pid"] = o.pid;
  if (!q.Send(req, &error)) {
    PrintError(error);
    return kExitUsage;
  }
  Db db;
  if (!db.Open(o.output, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &error) ||
      !db.Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536;",
               &error) ||
      !db.Exec(kRecordingSchema, &error)) {
    PrintError(fmt::format("cannot create the recording {}: {}", o.output, error));
    return kExitFailure;
  }
  Recorder rec(db);
  if (!rec.ok()) {
    PrintError(fmt::format("cannot prepare the recording {}: {}", o.output, db.Message()));
    return kExitFailure;
  }
  const uint64_t started_ns = base::RealtimeNs();
  std::string command;
  for (const std::string& a : o.command) command += (command.empty() ? "" : " ") + a;
  if (!SetMeta(db, "schema_version", std::to_string(kRecordingSchemaVersion), &error) ||
      !SetMeta(db, "started_ns", std::to_string(started_ns), &error) ||
      !SetMeta(db, "host", Hostname(), &error) || !SetMeta(db, "socket", o.socket, &error) ||
      !SetMeta(db, "pid_filter", std::to_string(o.pid > 0 ? o.pid : -1), &error) ||
      !SetMeta(db, "command", command, &error)) {
    PrintError(error);
    return kExitFailure;
  }

  // The daemon's snapshot comes first ("start"): wait for it, so a missing daemon is an error
  // before CMD runs.
  bool started = false;
  for (uint64_t deadline = MonoMs() + 5000; !started && MonoMs() < deadline;) {
    const proto::Frame* f = nullptr;
    int r = q.PollFrame(&f, 200, &error);
    if (r < 0) {
      PrintError(error);
      return kExitUsage;
    }
    if (r == 0) continue;
    if (f->header.type == static_cast<uint16_t>(proto::FrameType::kEvents)) {
      if (!rec.Events(f->payload.data(), f->payload.size(), &error)) break;
      continue;
    }
    auto n = nlohmann::json::parse(f->payload.begin(), f->payload.end(), nullptr, false);
    if (n.is_object() && n.contains("error")) {
      PrintError(fmt::format("ttmemd refused the recording: {} (is ttmemd older than this ttmem?)",
                             n["error"].dump()));
      return kExitFailure;
    }
    if (n.is_object() && !rec.Notice(n, &error)) break;
    started = n.is_object() && JsonStr(n, "event") == "start";
  }
  if (!started) {
    PrintError(error.empty() ? "ttmemd did not start the event stream within 5 s (is it a ttmemd "
                               "that knows \"events\"? upgrade it)"
                             : error);
    return kExitFailure;
  }

  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);

  pid_t child = -1;
  if (!o.command.empty()) {
    child = ::fork();
    if (child < 0) {
      PrintError(fmt::format("cannot start {}: {}", o.command[0], std::strerror(errno)));
      return kExitFailure;
    }
    if (child == 0) {
      ::signal(SIGINT, SIG_DFL);
      ::signal(SIGTERM, SIG_DFL);
      if (!::getenv("TT_ALLOC_TRACKING_ENABLED")) ::setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
      ::setenv("TTMEM_SOCKET", o.socket.c_str(), 1);
      std::vector<char*> argv;
      for (const std::string& a : o.command) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execvp(argv[0], argv.data());
      std::fprintf(stderr, "ttmem record: cannot run %s: %s\n", argv[0], std::strerror(errno));
      ::_exit(127);
    }
  }

  const bool progress = !o.quiet && ::isatty(STDERR_FILENO);
  int exit_code = kExitOk;
  int child_status = -1;
  bool child_ended_seen = false;  // the daemon said the child's process ended
  uint64_t child_exit_ms = 0, last_commit_ms = MonoMs(), last_progress_ms = 0;
  uint64_t in_tx = 0;
  bool failed = false, flushing = false;
  uint64_t flush_deadline_ms = 0;
  std::string fail;
  while (!failed) {
    const proto::Frame* f = nullptr;
    int r = q.PollFrame(&f, 100, &error);
    if (r < 0) {
      fail = error + "; what was recorded until then is kept";
      failed = true;
      break;
    }
    if (r == 1) {
      if (f->header.type == static_cast<uint16_t>(proto::FrameType::kEvents)) {
        if (!rec.Events(f->payload.data(), f->payload.size(), &error)) {
          fail = error;
          failed = true;
        }
        in_tx += f->payload.size() / sizeof(proto::EventRecord);
      } else {
        auto n = nlohmann::json::parse(f->payload.begin(), f->payload.end(), nullptr, false);
        if (n.is_object() && !rec.Notice(n, &error)) {
          fail = error;
          failed = true;
        }
        for (pid_t p : rec.TakeEnded())
          if (p == child) child_ended_seen = true;
      }
    }
    const uint64_t now = MonoMs();
    if (in_tx >= 200000 || now >= last_commit_ms + 250) {  // batched transactions
      if (!rec.Commit(&error)) {
        fail = error;
        failed = true;
      }
      in_tx = 0;
      last_commit_ms = now;
    }
    if (progress && now >= last_progress_ms + 500) {
      last_progress_ms = now;
      std::fprintf(stderr, "\rttmem record: %llu events · %llu process(es) · %llu lost   ",
                   static_cast<unsigned long long>(rec.events()),
                   static_cast<unsigned long long>(rec.processes()),
                   static_cast<unsigned long long>(rec.lost()));
    }
    if (child > 0 && child_status < 0) {
      int status = 0;
      if (::waitpid(child, &status, WNOHANG) == child) {
        child_status = status;
        child_exit_ms = now;
      }
    }
    if (flushing) {
      // Everything the daemon applied before the flush request, and the count of what it could
      // not send, has arrived: done. A second Ctrl-C or a minute without it stops at once.
      if (rec.flushed() || g_stop >= 2 || now >= flush_deadline_ms) break;
      continue;
    }
    // The stop check runs whether or not a frame came: on a busy host frames never pause.
    // CMD exited: stop once the daemon has told its end (its last events came before). When CMD
    // itself never connected (a shell, a launcher), once every process that started during the
    // recording has ended too, or 2 s after CMD when some still run.
    const bool stop = g_stop != 0 || (child_status >= 0 &&
                                      (child_ended_seen ||
                                       (rec.running_new() == 0 && now >= child_exit_ms + 100) ||
                                       now >= child_exit_ms + 2000));
    if (stop) {
      // Ask the daemon to apply what clients published and to say what this stream lost; read
      // until it has (the events still queued for us come first).
      if (!q.Send({{"cmd", "events_flush"}}, &error)) {
        fail = error;
        failed = true;
        break;
      }
      flushing = true;
      flush_deadline_ms = now + 60000;
    }
  }
  if (progress) std::fprintf(stderr, "\n");
  if (child > 0 && child_status < 0) {  // interrupted while CMD runs: it got the same signal
    ::kill(child, SIGTERM);
    ::waitpid(child, &child_status, 0);
  }
  const uint64_t ended_ns = base::RealtimeNs();
  std::string e2;
  if (!failed && !rec.flushed()) {
    PrintError(
        "stopped before the daemon confirmed the end of the stream: the count of lost "
        "events may be incomplete (meta.complete = 0)");
  }
  if (!SetMeta(db, "complete", rec.flushed() ? "1" : "0", &e2)) PrintError(e2);
  if (!rec.Commit(&e2) || !SetMeta(db, "ended_ns", std::to_string(ended_ns), &e2) ||
      !SetMeta(db, "events", std::to_string(rec.events()), &e2) ||
      !SetMeta(db, "events_lost", std::to_string(rec.lost()), &e2) ||
      !SetMeta(db, "daemon_pid", std::to_string(JsonI64(rec.start(), "daemon_pid")), &e2) ||
      !db.Exec(kRecordingIndices, &e2)) {
    PrintError(fmt::format("finishing {}: {}", o.output, e2));
    return kExitFailure;
  }
  if (child_status >= 0) {
    if (!SetMeta(db, "command_status", std::to_string(child_status), &e2)) PrintError(e2);
    exit_code = WIFEXITED(child_status)
                    ? WEXITSTATUS(child_status)
                    : 128 + (WIFSIGNALED(child_status) ? WTERMSIG(child_status) : 0);
  }
  if (!o.quiet)
    std::fprintf(stderr, "ttmem record: %llu events from %llu process%s in %s%s\n",
                 static_cast<unsigned long long>(rec.events()),
                 static_cast<unsigned long long>(rec.processes()), rec.processes() == 1 ? "" : "es",
                 o.output.c_str(),
                 rec.lost() != 0 ? fmt::format(" ({} events LOST: the recorder fell behind the "
                                               "daemon; they are counted in meta.events_lost)",
                                               rec.lost())
                                       .c_str()
                                 : "");
  if (failed) {
    PrintError(fail);
    return kExitFailure;
  }
  return exit_code;
}

}  // namespace ttmem::cli
