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
#include <string_view>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include "base/clock.h"
#include "cli/commands.h"
#include "cli/query.h"
#include "cli/recording.h"
#include "cli/recording_writer.h"
#include "model/notices.h"
#include "model/requests.h"
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

// What a recording is about: which process row a pid is, which processes came and went, what
// was lost; the rows themselves are written by RecordingWriter.
class Recorder {
 public:
  explicit Recorder(Db& db) : out_(db) {}

  bool ok() const { return out_.ok(); }
  bool Commit(std::string* error) { return out_.Commit(error); }

  bool Events(const uint8_t* data, size_t len, std::string* error) {
    if (len % sizeof(proto::EventRecord) != 0) {
      *error = fmt::format("an event frame of {} bytes from the daemon", len);
      return false;
    }
    if (!out_.Begin(error)) return false;
    const size_t n = len / sizeof(proto::EventRecord);
    events_buf_.resize(n);
    rows_buf_.resize(n);
    std::memcpy(events_buf_.data(), data, len);
    for (size_t i = 0; i < n; ++i)
      if (!ProcessRow(events_buf_[i].pid, events_buf_[i].time_ns, &rows_buf_[i], error))
        return false;
    if (!out_.Events(events_buf_.data(), rows_buf_.data(), n, error)) return false;
    events_ += n;
    return true;
  }

  // A JSON notice from the daemon (model/notices.h). Returns false on a write error.
  bool Notice(std::string_view text, std::string* error) {
    const model::Notice notice = model::ParseNotice(text);
    if (std::holds_alternative<model::UnknownNotice>(notice)) return true;  // not one: ignored
    if (!out_.Begin(error)) return false;
    return std::visit([&](const auto& n) { return Take(n, error); }, notice);
  }

  bool Take(const model::ProcessStartNotice& n, std::string* error) {
    int64_t row = 0;
    if (!out_.Process({n.pid, n.name, n.cmdline, n.user, I64(n.uid), I64(n.started_unix_ms),
                       I64(n.time_ns), n.existing, n.ns_pid, n.container},
                      &row, error))
      return false;
    rows_[n.pid] = row;
    ++processes_;
    if (!n.existing) running_new_.insert(n.pid);
    return true;
  }
  bool Take(const model::ProcessEndNotice& n, std::string* error) {
    int64_t row = 0;
    if (!ProcessRow(n.pid, n.time_ns, &row, error) ||
        !out_.ProcessEnd(row, n.time_ns, n.reclaimed_bytes, error))
      return false;
    rows_.erase(n.pid);
    ended_.push_back(n.pid);
    running_new_.erase(n.pid);
    return true;
  }
  bool Take(const model::OpNameNotice& n, std::string* error) {
    int64_t row = 0;
    return ProcessRow(n.pid, base::RealtimeNs(), &row, error) &&
           out_.OpName(row, n.id, n.name, error);
  }
  bool Take(const model::DeviceNotice& n, std::string* error) {
    return out_.Device(n, base::RealtimeNs(), error);
  }
  bool Take(const model::LostNotice& n, std::string*) {
    lost_ = std::max(lost_, n.total);
    return true;
  }
  bool Take(const model::FlushedNotice& n, std::string*) {
    lost_ = std::max(lost_, n.lost_total);
    flushed_ = true;
    return true;
  }
  bool Take(const model::StartNotice& n, std::string*) {
    start_ = n;
    started_ = true;
    return true;
  }
  bool Take(const model::UnknownNotice&, std::string*) { return true; }

  // Processes seen to end, since the last call.
  std::vector<pid_t> TakeEnded() { return std::exchange(ended_, {}); }

  // Processes that started during the recording and have not ended.
  size_t running_new() const { return running_new_.size(); }
  bool flushed() const { return flushed_; }
  uint64_t events() const { return events_; }
  uint64_t processes() const { return processes_; }
  uint64_t lost() const { return lost_; }
  const model::StartNotice& start() const { return start_; }
  bool started() const { return started_; }

 private:
  // The processes row of pid now; one is made for a pid the daemon never introduced.
  bool ProcessRow(pid_t pid, uint64_t time_ns, int64_t* row, std::string* error) {
    auto it = rows_.find(pid);
    if (it != rows_.end()) {
      *row = it->second;
      return true;
    }
    ProcessValues unknown;
    unknown.pid = pid;
    unknown.first_seen_ns = I64(time_ns);
    if (!out_.Process(unknown, row, error)) return false;
    rows_[pid] = *row;
    ++processes_;
    return true;
  }

  RecordingWriter out_;
  std::vector<proto::EventRecord> events_buf_;
  std::vector<int64_t> rows_buf_;
  std::map<pid_t, int64_t> rows_;
  std::vector<pid_t> ended_;
  std::set<pid_t> running_new_;
  bool flushed_ = false;
  uint64_t events_ = 0, processes_ = 0, lost_ = 0;
  model::StartNotice start_;
  bool started_ = false;
};

bool SetMeta(Db& db, const std::string& key, const std::string& value, std::string* error) {
  return RecordingWriter::Meta(db, key, value, error);
}

std::string Hostname() {
  char h[256] = {};
  ::gethostname(h, sizeof(h) - 1);
  return h;
}

}  // namespace

namespace {

// Refuses an existing file unless --force, then removes it and its WAL files. Exit code or -1.
int PrepareOutput(const RecordOptions& o) {
  if (o.output.empty()) {
    PrintError("record needs an output file: ttmem record -o FILE.sqlite [-- CMD ARGS...]");
    return kExitUsage;
  }
  struct stat st;
  if (::stat(o.output.c_str(), &st) != 0) return -1;
  if (!o.force) {
    PrintError(fmt::format("{} already exists: choose another file, or pass --force to replace it",
                           o.output));
    return kExitUsage;
  }
  if (::unlink(o.output.c_str()) != 0) {
    PrintError(fmt::format("cannot replace {}: {}", o.output, std::strerror(errno)));
    return kExitFailure;
  }
  ::unlink((o.output + "-wal").c_str());
  ::unlink((o.output + "-shm").c_str());
  return -1;
}

// Creates the recording's schema and its first meta rows.
bool CreateRecording(Db& db, const RecordOptions& o, std::string* error) {
  if (!db.Open(o.output, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, error) ||
      !db.Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536;",
               error) ||
      !db.Exec(kRecordingSchema, error)) {
    *error = fmt::format("cannot create the recording {}: {}", o.output, *error);
    return false;
  }
  std::string command;
  for (const std::string& a : o.command) command += (command.empty() ? "" : " ") + a;
  return SetMeta(db, "schema_version", std::to_string(kRecordingSchemaVersion), error) &&
         SetMeta(db, "started_ns", std::to_string(base::RealtimeNs()), error) &&
         SetMeta(db, "host", Hostname(), error) && SetMeta(db, "socket", o.socket, error) &&
         SetMeta(db, "pid_filter", std::to_string(o.pid > 0 ? o.pid : -1), error) &&
         SetMeta(db, "command", command, error);
}

// The daemon's snapshot comes first ("start"): waits for it, so a missing daemon is an error
// before CMD runs. Exit code or -1.
int AwaitStart(QueryClient& q, Recorder& rec) {
  std::string error;
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
    const std::string_view text(reinterpret_cast<const char*>(f->payload.data()),
                                f->payload.size());
    if (auto refused = model::Refusal(text)) {
      PrintError(fmt::format("ttmemd refused the recording: {} (is ttmemd older than this ttmem?)",
                             *refused));
      return kExitFailure;
    }
    if (!rec.Notice(text, &error)) break;
    started = rec.started();
  }
  if (started) return -1;
  PrintError(error.empty() ? "ttmemd did not start the event stream within 5 s (is it a ttmemd "
                             "that knows \"events\"? upgrade it)"
                           : error);
  return kExitFailure;
}

// Runs CMD with tracking on and the daemon's socket; -1 when there is none, -2 when it cannot
// be started (said).
pid_t StartCommand(const RecordOptions& o) {
  if (o.command.empty()) return -1;
  const pid_t child = ::fork();
  if (child < 0) {
    PrintError(fmt::format("cannot start {}: {}", o.command[0], std::strerror(errno)));
    return -2;
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
  return child;
}

// The recording loop: frames into the database in batched transactions, until CMD (or a signal)
// ends it and the daemon has confirmed the end of the stream.
class RecordLoop {
 public:
  RecordLoop(QueryClient& q, Recorder& rec, pid_t child, bool progress)
      : q_(q), rec_(rec), child_(child), progress_(progress) {}
  // False with *fail when the stream or the database failed.
  bool Run(std::string* fail);
  int child_status() const { return child_status_; }

 private:
  bool Take(const proto::Frame& f, std::string* error);
  bool ShouldStop(uint64_t now) const;
  void Progress(uint64_t now);
  QueryClient& q_;
  Recorder& rec_;
  pid_t child_;
  bool progress_;
  int child_status_ = -1;
  bool child_ended_seen_ = false;  // the daemon said the child's process ended
  uint64_t child_exit_ms_ = 0, last_progress_ms_ = 0, in_tx_ = 0;
};

bool RecordLoop::Take(const proto::Frame& f, std::string* error) {
  if (f.header.type == static_cast<uint16_t>(proto::FrameType::kEvents)) {
    in_tx_ += f.payload.size() / sizeof(proto::EventRecord);
    return rec_.Events(f.payload.data(), f.payload.size(), error);
  }
  const std::string_view text(reinterpret_cast<const char*>(f.payload.data()), f.payload.size());
  if (!rec_.Notice(text, error)) return false;
  for (pid_t p : rec_.TakeEnded())
    if (p == child_) child_ended_seen_ = true;
  return true;
}

// The stop check runs whether or not a frame came: on a busy host frames never pause. CMD
// exited: stop once the daemon has told its end (its last events came before). When CMD itself
// never connected (a shell, a launcher), once every process that started during the recording
// has ended too, or 2 s after CMD when some still run.
bool RecordLoop::ShouldStop(uint64_t now) const {
  return g_stop != 0 ||
         (child_status_ >= 0 &&
          (child_ended_seen_ || (rec_.running_new() == 0 && now >= child_exit_ms_ + 100) ||
           now >= child_exit_ms_ + 2000));
}

void RecordLoop::Progress(uint64_t now) {
  if (!progress_ || now < last_progress_ms_ + 500) return;
  last_progress_ms_ = now;
  std::fprintf(stderr, "\rttmem record: %llu events · %llu process(es) · %llu lost   ",
               static_cast<unsigned long long>(rec_.events()),
               static_cast<unsigned long long>(rec_.processes()),
               static_cast<unsigned long long>(rec_.lost()));
}

bool RecordLoop::Run(std::string* fail) {
  std::string error;
  uint64_t last_commit_ms = MonoMs(), flush_deadline_ms = 0;
  bool flushing = false;
  for (;;) {
    const proto::Frame* f = nullptr;
    const int r = q_.PollFrame(&f, 100, &error);
    if (r < 0) {
      *fail = error + "; what was recorded until then is kept";
      return false;
    }
    if (r == 1 && !Take(*f, &error)) return (*fail = error, false);
    const uint64_t now = MonoMs();
    if (in_tx_ >= 200000 || now >= last_commit_ms + 250) {  // batched transactions
      if (!rec_.Commit(&error)) return (*fail = error, false);
      in_tx_ = 0;
      last_commit_ms = now;
    }
    Progress(now);
    int status = 0;
    if (child_ > 0 && child_status_ < 0 && ::waitpid(child_, &status, WNOHANG) == child_) {
      child_status_ = status;
      child_exit_ms_ = now;
    }
    if (flushing) {
      // Everything the daemon applied before the flush request, and the count of what it could
      // not send, has arrived: done. A second Ctrl-C or a minute without it stops at once.
      if (rec_.flushed() || g_stop >= 2 || now >= flush_deadline_ms) return true;
      continue;
    }
    if (ShouldStop(now)) {
      // Ask the daemon to apply what clients published and to say what this stream lost; read
      // until it has (the events still queued for us come first).
      if (!q_.Send(model::Request("events_flush").Text(), &error)) return (*fail = error, false);
      flushing = true;
      flush_deadline_ms = now + 60000;
    }
  }
}

// The last meta rows and the indices. False when the file could not be finished (said).
bool FinishRecording(Db& db, Recorder& rec, const RecordOptions& o, int child_status, bool failed) {
  std::string e2;
  if (!failed && !rec.flushed())
    PrintError(
        "stopped before the daemon confirmed the end of the stream: the count of lost "
        "events may be incomplete (meta.complete = 0)");
  if (!SetMeta(db, "complete", rec.flushed() ? "1" : "0", &e2)) PrintError(e2);
  if (!rec.Commit(&e2) || !SetMeta(db, "ended_ns", std::to_string(base::RealtimeNs()), &e2) ||
      !SetMeta(db, "events", std::to_string(rec.events()), &e2) ||
      !SetMeta(db, "events_lost", std::to_string(rec.lost()), &e2) ||
      !SetMeta(db, "daemon_pid", std::to_string(rec.start().daemon_pid), &e2) ||
      !db.Exec(kRecordingIndices, &e2)) {
    PrintError(fmt::format("finishing {}: {}", o.output, e2));
    return false;
  }
  if (child_status >= 0 && !SetMeta(db, "command_status", std::to_string(child_status), &e2))
    PrintError(e2);
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
  return true;
}

}  // namespace

int RunRecord(const RecordOptions& o) {
  if (int code = PrepareOutput(o); code >= 0) return code;
  // Subscribe first, so that nothing CMD does is missed.
  QueryClient q(o.socket);
  std::string error;
  model::Request req("events");
  if (o.pid > 0) req.Int("pid", o.pid);
  if (!q.Send(req.Text(), &error)) {
    PrintError(error);
    return kExitUsage;
  }
  Db db;
  if (!CreateRecording(db, o, &error)) {
    PrintError(error);
    return kExitFailure;
  }
  Recorder rec(db);
  if (!rec.ok()) {
    PrintError(fmt::format("cannot prepare the recording {}: {}", o.output, db.Message()));
    return kExitFailure;
  }
  if (int code = AwaitStart(q, rec); code >= 0) return code;

  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  const pid_t child = StartCommand(o);
  if (child == -2) return kExitFailure;

  const bool progress = !o.quiet && ::isatty(STDERR_FILENO);
  RecordLoop loop(q, rec, child, progress);
  std::string fail;
  const bool failed = !loop.Run(&fail);
  if (progress) std::fprintf(stderr, "\n");
  int child_status = loop.child_status();
  if (child > 0 && child_status < 0) {  // interrupted while CMD runs: it got the same signal
    ::kill(child, SIGTERM);
    ::waitpid(child, &child_status, 0);
  }
  if (!FinishRecording(db, rec, o, child_status, failed)) return kExitFailure;
  if (failed) {
    PrintError(fail);
    return kExitFailure;
  }
  if (child_status < 0) return kExitOk;
  return WIFEXITED(child_status) ? WEXITSTATUS(child_status)
                                 : 128 + (WIFSIGNALED(child_status) ? WTERMSIG(child_status) : 0);
}

}  // namespace ttmem::cli
