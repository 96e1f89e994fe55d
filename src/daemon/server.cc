#include "daemon/server.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "daemon/log.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

namespace ttmem::daemon {
namespace {

constexpr uint32_t kFastTickMs = 2;
constexpr uint32_t kSlowTickMs = 250;
constexpr uint32_t kWakeWantedAtMs = 32;  // at and above this interval, clients wake the daemon
constexpr uint64_t kMaxRecordsPerRingPerDrain = 1 << 20;

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

std::string ReadSmallFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::string s;
  char buf[4096];
  f.read(buf, sizeof(buf));
  s.assign(buf, static_cast<size_t>(f.gcount()));
  return s;
}

ProcessMeta ReadProcessMeta(pid_t pid, uid_t uid) {
  ProcessMeta m;
  m.uid = uid;
  m.name = ReadSmallFile(fmt::format("/proc/{}/comm", pid));
  while (!m.name.empty() && (m.name.back() == '\n' || m.name.back() == '\0')) m.name.pop_back();
  m.cmdline = ReadSmallFile(fmt::format("/proc/{}/cmdline", pid));
  while (!m.cmdline.empty() && m.cmdline.back() == '\0') m.cmdline.pop_back();
  for (char& ch : m.cmdline)
    if (ch == '\0') ch = ' ';
  passwd pw{};
  passwd* res = nullptr;
  char buf[1024];
  if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res != nullptr)
    m.user = res->pw_name;
  else
    m.user = std::to_string(uid);
  m.started_unix_ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count());
  return m;
}

// The peer's pidfd straight from the socket (no pid-reuse window); pidfd_open as a fallback.
base::UniqueFd PeerPidfd(int sock, pid_t pid) {
  int pidfd = -1;
  socklen_t len = sizeof(pidfd);
  if (::getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0 && pidfd >= 0)
    return base::UniqueFd(pidfd);
  return base::UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
}

std::string SafeText(const char* p, size_t n) {
  std::string s(p, strnlen(p, n));
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) == 0x7f) c = '?';
  return s;
}

}  // namespace

Server::Server(Options options)
    : options_(std::move(options)), history_(1000, options_.history_seconds) {}

Server::~Server() {
  if (bound_) ::unlink(options_.socket_path.c_str());
}

// systemd socket activation: the listening socket arrives as fd 3 (LISTEN_FDS=1 for our pid).
static base::UniqueFd InheritedListener() {
  const char* fds = std::getenv("LISTEN_FDS");
  const char* pid = std::getenv("LISTEN_PID");
  if (fds == nullptr || pid == nullptr || std::strcmp(fds, "1") != 0 ||
      std::strtol(pid, nullptr, 10) != ::getpid())
    return base::UniqueFd();
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDNAMES");
  int type = 0;
  socklen_t len = sizeof(type);
  if (::getsockopt(3, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
    return base::UniqueFd();
  ::fcntl(3, F_SETFD, FD_CLOEXEC);
  ::fcntl(3, F_SETFL, ::fcntl(3, F_GETFL) | O_NONBLOCK);
  return base::UniqueFd(3);
}

bool Server::Start(std::string* error) {
  const std::string& path = options_.socket_path;
  listen_ = InheritedListener();
  if (listen_) {
    LogInfo("using the socket systemd passed (socket activation) for {}", path);
    return StartLoop(error);
  }
  // Create the parent directory if missing (0700 for a per-user one, 0755 for /run/ttmem).
  auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    std::string dir = path.substr(0, slash);
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 &&
        ::mkdir(dir.c_str(), dir.rfind("/run/", 0) == 0 ? 0755 : 0700) != 0 && errno != EEXIST) {
      *error = fmt::format("cannot create directory {}: {} (choose another --socket)", dir,
                           std::strerror(errno));
      return false;
    }
  }
  // One daemon per socket: a live one answers connect; a stale file from a crash does not.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      *error =
          fmt::format("{} exists and is not a socket; remove it or choose another --socket", path);
      return false;
    }
    base::UniqueFd probe = base::ConnectUnix(path, /*nonblocking=*/false);
    if (probe) {
      *error = fmt::format(
          "another ttmemd is already serving {}; stop it first or choose "
          "another --socket",
          path);
      return false;
    }
    LogInfo("removing stale socket {} (no daemon answers on it)", path);
    ::unlink(path.c_str());
  }
  listen_ = base::ListenUnix(path, 128);
  if (!listen_) {
    *error = fmt::format(
        "cannot listen on {}: {} (check the directory's permissions or choose "
        "another --socket)",
        path, std::strerror(errno));
    return false;
  }
  bound_ = true;
  uint32_t mode = options_.socket_mode != 0 ? options_.socket_mode
                                            : (path.rfind("/run/ttmem/", 0) == 0 ? 0666 : 0600);
  ::chmod(path.c_str(), mode);
  return StartLoop(error);
}

bool Server::StartLoop(std::string* error) {
  const std::string& path = options_.socket_path;
  if (!options_.metrics_listen.empty()) {
    metrics_ = std::make_unique<MetricsExporter>();
    if (!metrics_->Start(options_.metrics_listen, error)) return false;
    LogInfo("Prometheus metrics on http://{}/metrics (port {})", options_.metrics_listen,
            metrics_->port());
  }

  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  ::pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  signal_.reset(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!epoll_ || !signal_ || !timer_ || !wake_) {
    *error = fmt::format("cannot create event sources: {}", std::strerror(errno));
    return false;
  }
  auto add = [&](int fd, Tag tag) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = Token(tag, 0);
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
  };
  add(listen_.get(), kListen);
  add(signal_.get(), kSignal);
  add(timer_.get(), kTimer);
  add(wake_.get(), kWake);
  started_ns_ = NowNs();
  LogInfo("ttmemd listening on {} (protocol {})", path, proto::kProtocolVersion);
  return true;
}

int Server::Run() {
  epoll_event events[64];
  while (!stop_) {
    int n = ::epoll_wait(epoll_.get(), events, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      LogError("epoll_wait: {}", std::strerror(errno));
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      uint64_t token = events[i].data.u64;
      auto tag = static_cast<Tag>(token >> 56);
      uint64_t id = token & ((uint64_t{1} << 56) - 1);
      switch (tag) {
        case kListen:
          Accept();
          break;
        case kSignal:
          OnSignal();
          break;
        case kTimer:
          OnTimer();
          break;
        case kWake: {
          uint64_t v;
          while (::read(wake_.get(), &v, sizeof(v)) > 0) {
          }
          DrainAll();
          break;
        }
        case kConn: {
          auto it = conns_.find(id);
          if (it == conns_.end()) break;
          if (events[i].events & EPOLLOUT) OnConnWritable(*it->second);
          it = conns_.find(id);
          if (it == conns_.end()) break;
          if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) OnConnReadable(*it->second);
          break;
        }
        case kPidfd: {
          auto it = conns_.find(id);
          if (it != conns_.end()) Close(id, "process exited");
          break;
        }
      }
    }
    PushSubscriptions();
  }
  // Clean shutdown: apply what clients published, then let them go.
  DrainAll();
  LogInfo("ttmemd stopping; removing {}", options_.socket_path);
  return 0;
}

uint64_t Server::UptimeMs() const {
  return (NowNs() - started_ns_) / 1000000;
}

void Server::Accept() {
  for (;;) {
    int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        LogError("accept: {}", std::strerror(errno));
      return;
    }
    auto c = std::make_unique<Conn>();
    c->id = next_id_++;
    c->fd.reset(fd);
    if (!base::GetPeerCred(fd, &c->cred)) {
      LogError("SO_PEERCRED failed: {}; dropping connection", std::strerror(errno));
      continue;
    }
    uint32_t same_uid = 0;
    for (const auto& [id, other] : conns_) same_uid += other->cred.uid == c->cred.uid ? 1 : 0;
    if (same_uid >= options_.max_connections_per_uid) {
      ++disconnected_for_errors_;
      LogWarn(
          "refusing a connection from pid {} uid {}: uid already has {} connections "
          "(--max-connections-per-uid)",
          c->cred.pid, c->cred.uid, same_uid);
      continue;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = Token(kConn, c->id);
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
    conns_.emplace(c->id, std::move(c));
  }
}

std::string Server::Describe(const Conn& c) const {
  auto it = meta_.find(c.cred.pid);
  std::string name = it != meta_.end() ? it->second.name : "";
  return fmt::format("pid {} ({}) uid {}", c.cred.pid, name.empty() ? "?" : name, c.cred.uid);
}

void Server::OnConnReadable(Conn& c) {
  const uint64_t id = c.id;
  for (int budget = 64; budget > 0; --budget) {  // per-connection work cap per wake-up
    base::Frame f;
    base::ReadResult r = c.reader.Next(c.fd.get(), &f);
    if (r == base::ReadResult::kAgain) return;
    if (r == base::ReadResult::kClosed || r == base::ReadResult::kError) {
      Close(id, c.role == Role::kClient ? "client disconnected" : "");
      return;
    }
    if (r == base::ReadResult::kMalformed) {
      ++disconnected_for_errors_;
      LogWarn("disconnecting {}: {}", Describe(c), c.reader.error());
      Close(id, "");
      return;
    }
    if (!HandleFrame(c, f)) {
      ++disconnected_for_errors_;
      Close(id, "");
      return;
    }
    if (conns_.find(id) == conns_.end()) return;
  }
}

bool Server::HandleFrame(Conn& c, base::Frame& f) {
  auto type = static_cast<proto::FrameType>(f.header.type);
  if (c.role == Role::kUnknown) {
    if (type == proto::FrameType::kHello) return HandleHello(c, f);
    if (type == proto::FrameType::kQuery) {
      c.role = Role::kQuery;
    } else {
      LogWarn("disconnecting {}: first frame of type {} (expected hello or query)", Describe(c),
              f.header.type);
      return false;
    }
  }
  if (c.role == Role::kQuery) {
    if (type != proto::FrameType::kQuery || f.passed_fd || f.passed_fd2) {
      LogWarn("disconnecting query peer {}: unexpected frame type {}", Describe(c), f.header.type);
      return false;
    }
    HandleQuery(c, f);
    return true;
  }
  // Reporting client.
  if (f.passed_fd || f.passed_fd2) {
    LogWarn("disconnecting {}: unexpected file descriptor", Describe(c));
    return false;
  }
  switch (type) {
    case proto::FrameType::kDeviceInfo: {
      if (f.payload.size() != sizeof(proto::DeviceInfoBody) &&
          f.payload.size() != proto::kDeviceInfoBodyV1Size) {
        LogWarn("disconnecting {}: device info of {} bytes", Describe(c), f.payload.size());
        return false;
      }
      proto::DeviceInfoBody b{};  // a v1 body leaves the bank geometry zero: unknown
      std::memcpy(&b, f.payload.data(), f.payload.size());
      if (b.device >= proto::kMaxDevices) {
        LogWarn("disconnecting {}: device info for device {}", Describe(c), b.device);
        return false;
      }
      ledger::DeviceInfo info;
      info.arch = SafeText(b.arch, sizeof(b.arch));
      info.unique_id = b.unique_id;
      info.num_cores = b.num_cores;
      for (int t = 0; t < ledger::kNumTypes; ++t) {
        info.capacity_bytes[t] = b.capacity_bytes[t];
        // Geometry is only a drawing aid; anything that cannot describe a real bank is ignored.
        const bool sane = b.bank_count[t] != 0 && b.bank_count[t] <= (1u << 20) &&
                          b.capacity_bytes[t] / b.bank_count[t] != 0 &&
                          b.bank_base[t] <= UINT64_MAX - b.capacity_bytes[t];
        info.bank_count[t] = sane ? b.bank_count[t] : 0;
        info.bank_base[t] = sane ? b.bank_base[t] : 0;
      }
      if (event_subscribers_ != 0) Notice(DeviceNotice(b.device, info), -1);
      ledger_.SetDeviceInfo(b.device, std::move(info));
      return true;
    }
    case proto::FrameType::kSetTag: {
      if (f.payload.size() != sizeof(proto::SetTagBody)) {
        LogWarn("disconnecting {}: tag of {} bytes", Describe(c), f.payload.size());
        return false;
      }
      ProcessMeta& m = meta_[c.cred.pid];
      m.tag = SafeText(reinterpret_cast<const char*>(f.payload.data()), f.payload.size());
      m.version = ++meta_version_;
      return true;
    }
    case proto::FrameType::kSyncBegin:
    case proto::FrameType::kSync: {
      DrainStats stats;
      std::string error;
      ArmTap();
      bool ok =
          type == proto::FrameType::kSyncBegin
              ? c.session->BeginSync(ledger_, f.payload.data(), f.payload.size(), &stats, &error)
              : c.session->ApplySync(ledger_, f.payload.data(), f.payload.size(), &stats, &error);
      events_applied_ += stats.applied;
      FlushTap();
      if (!ok) LogWarn("disconnecting {}: {}", Describe(c), error);
      return ok;
    }
    case proto::FrameType::kSyncEnd: {
      std::string error;
      if (f.payload.size() != sizeof(proto::SyncEndBody)) error = "sync end of wrong size";
      if (!error.empty() || !c.session->EndSync(ledger_, &error)) {
        LogWarn("disconnecting {}: {}", Describe(c), error);
        return false;
      }
      Reply(c, proto::FrameType::kSyncAck,
            std::string(reinterpret_cast<const char*>(f.payload.data()), f.payload.size()));
      return true;
    }
    default:
      LogWarn("disconnecting {}: unexpected frame type {}", Describe(c), f.header.type);
      return false;
  }
}

bool Server::HandleHello(Conn& c, base::Frame& f) {
  proto::HelloAckBody ack{static_cast<uint32_t>(proto::HelloStatus::kOk), proto::kProtocolVersion};
  if (f.payload.size() != sizeof(proto::HelloBody)) {
    LogWarn("disconnecting {}: hello of {} bytes", Describe(c), f.payload.size());
    return false;
  }
  proto::HelloBody hello;
  std::memcpy(&hello, f.payload.data(), sizeof(hello));
  if (hello.protocol_version != proto::kProtocolVersion) {
    LogWarn("refusing {}: client protocol {} (daemon speaks {}); upgrade libttmem or ttmemd",
            Describe(c), hello.protocol_version, proto::kProtocolVersion);
    ack.status = static_cast<uint32_t>(proto::HelloStatus::kVersionMismatch);
    base::SendFrame(c.fd.get(), proto::FrameType::kHelloAck, &ack, sizeof(ack));
    return false;
  }
  std::string error;
  auto session = Session::Create(c.cred.pid, std::move(f.passed_fd), hello, &error);
  if (!session) {
    LogWarn("refusing {}: {}", Describe(c), error);
    ack.status = static_cast<uint32_t>(proto::HelloStatus::kBadRegion);
    base::SendFrame(c.fd.get(), proto::FrameType::kHelloAck, &ack, sizeof(ack));
    return false;
  }
  // The same pid again (exec, or a reconnect racing its own hang-up): the old session is over.
  if (auto old = session_by_pid_.find(c.cred.pid); old != session_by_pid_.end())
    Close(old->second, "replaced by a new connection from the same process", /*retire=*/false);
  ledger_.AddProcess(c.cred.pid);
  uint64_t restored = 0;
  std::string note;
  if (!session->AttachState(std::move(f.passed_fd2), ledger_, &restored, &note, &error)) {
    LogWarn("refusing {}: {}", Describe(c), error);
    ledger_.RemoveProcess(c.cred.pid, /*retire_counters=*/false);
    ack.status = static_cast<uint32_t>(proto::HelloStatus::kRefused);
    base::SendFrame(c.fd.get(), proto::FrameType::kHelloAck, &ack, sizeof(ack));
    return false;
  }
  if (!note.empty()) LogWarn("client {}: {}", Describe(c), note);
  c.pidfd = PeerPidfd(c.fd.get(), c.cred.pid);
  if (c.pidfd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = Token(kPidfd, c.id);
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, c.pidfd.get(), &ev);
  }
  c.role = Role::kClient;
  c.session = std::move(session);
  session_by_pid_[c.cred.pid] = c.id;
  ProcessMeta meta = ReadProcessMeta(c.cred.pid, c.cred.uid);
  meta.tag = meta_[c.cred.pid].tag;
  meta.version = ++meta_version_;
  if (event_subscribers_ != 0) {
    Notice({{"event", "process_start"},
            {"pid", c.cred.pid},
            {"time_ns", RealtimeNs()},
            {"name", meta.name},
            {"cmdline", meta.cmdline},
            {"uid", meta.uid},
            {"user", meta.user},
            {"started_unix_ms", meta.started_unix_ms}},
           c.cred.pid);
    if (restored != 0) {
      TapLiveSet(c.cred.pid, proto::EventKind::kLive);
      FlushTap();
    }
  }
  meta_[c.cred.pid] = std::move(meta);
  if (!base::SendFrame(c.fd.get(), proto::FrameType::kHelloAck, &ack, sizeof(ack), wake_.get(),
                       c.session->state_fd()))
    return false;
  if (restored != 0)
    LogInfo("client {} reconnected; restored {} live buffers", Describe(c), restored);
  else
    LogInfo("client {} connected", Describe(c));
  ScheduleTick(kFastTickMs);
  return true;
}

void Server::EndSession(Conn& c, bool retire) {
  if (!c.session) return;
  // Drain what the client published before it went away, then reclaim everything it held.
  DrainStats stats;
  std::string error;
  ArmTap();
  if (!c.session->Drain(ledger_, /*final=*/true, kMaxRecordsPerRingPerDrain, &stats, &error))
    LogWarn("final drain of {}: {}", Describe(c), error);
  events_applied_ += stats.applied;
  if (event_subscribers_ != 0 && retire) {
    TapLiveSet(c.cred.pid, proto::EventKind::kReclaim);  // what it left behind: its leaks
    FlushTap();
  }
  uint64_t reclaimed = ledger_.RemoveProcess(c.cred.pid, retire);
  if (event_subscribers_ != 0 && retire)
    Notice({{"event", "process_end"},
            {"pid", c.cred.pid},
            {"time_ns", RealtimeNs()},
            {"reclaimed_bytes", reclaimed}},
           c.cred.pid);
  LogInfo("client {} gone; reclaimed {} bytes", Describe(c), reclaimed);
  session_by_pid_.erase(c.cred.pid);
  meta_.erase(c.cred.pid);
  c.session.reset();
}

void Server::Close(uint64_t id, const std::string& why, bool retire) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  Conn& c = *it->second;
  if (!why.empty() && options_.verbose) LogInfo("{}: {}", Describe(c), why);
  EndSession(c, retire);
  if (c.events) --event_subscribers_;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c.fd.get(), nullptr);
  if (c.pidfd) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c.pidfd.get(), nullptr);
  conns_.erase(it);
}

void Server::DrainAll() {
  ArmTap();
  uint64_t before = events_applied_;
  bool pending = false;
  std::vector<uint64_t> bad;
  for (auto& [id, c] : conns_) {
    if (!c->session) continue;
    DrainStats stats;
    std::string error;
    if (!c->session->Drain(ledger_, /*final=*/false, kMaxRecordsPerRingPerDrain, &stats, &error)) {
      LogWarn("disconnecting {}: {}", Describe(*c), error);
      bad.push_back(id);
    }
    events_applied_ += stats.applied;
    pending = pending || c->session->has_pending();
  }
  FlushTap();
  for (uint64_t id : bad) {
    ++disconnected_for_errors_;
    Close(id, "");
  }
  EnforceUidLimits();
  history_.MaybeSample(
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count()),
      ledger_);
  if (HasSubscribers()) ScanShm(false);  // tt-metal's statistics change without telling us
  if (metrics_) UpdateMetrics();
  if (session_by_pid_.empty()) {
    // No clients: nothing changes until one comes, except what a subscriber has not been sent.
    ScheduleTick(HasSubscribers() || metrics_ ? kSlowTickMs : 0);
  } else if (events_applied_ != before || pending) {
    ScheduleTick(kFastTickMs);
  } else {
    ScheduleTick(std::min(kSlowTickMs, std::max(kFastTickMs, tick_ms_ * 2)));
  }
}

void Server::EnforceUidLimits() {
  std::map<uid_t, uint64_t> live;
  for (const auto& [id, c] : conns_) {
    if (!c->session) continue;
    auto p = ledger_.processes().find(c->cred.pid);
    if (p != ledger_.processes().end()) live[c->cred.uid] += p->second.live.size();
  }
  std::vector<uint64_t> over;
  for (const auto& [id, c] : conns_)
    if (c->session && live[c->cred.uid] > options_.max_live_buffers_per_uid) over.push_back(id);
  for (uint64_t id : over) {
    auto it = conns_.find(id);
    LogWarn("disconnecting {}: its uid holds {} live buffers, over --max-live-buffers-per-uid {}",
            Describe(*it->second), live[it->second->cred.uid], options_.max_live_buffers_per_uid);
    ++disconnected_for_errors_;
    Close(id, "");
  }
}

void Server::ScheduleTick(uint32_t ms) {
  if (ms == tick_ms_) return;
  tick_ms_ = ms;
  itimerspec spec{};
  spec.it_value.tv_sec = ms / 1000;
  spec.it_value.tv_nsec = static_cast<long>(ms % 1000) * 1000000L;
  spec.it_interval = spec.it_value;
  ::timerfd_settime(timer_.get(), 0, &spec, nullptr);
  bool want = ms >= kWakeWantedAtMs;
  if (want != wake_wanted_ || want) {
    wake_wanted_ = want;
    for (auto& [id, c] : conns_)
      if (c->session) c->session->SetWakeWanted(want);
  }
}

void Server::OnTimer() {
  uint64_t expirations;
  while (::read(timer_.get(), &expirations, sizeof(expirations)) > 0) {
  }
  DrainAll();
}

void Server::OnSignal() {
  signalfd_siginfo si;
  while (::read(signal_.get(), &si, sizeof(si)) == static_cast<ssize_t>(sizeof(si))) {
    if (si.ssi_signo == SIGHUP) {
      std::string error;
      if (options_.log_path.empty())
        LogInfo("SIGHUP: logging to stderr; nothing to reopen");
      else if (!OpenLog(options_.log_path, &error))
        LogError("SIGHUP: {}; still logging to the old file", error);
      else
        LogInfo("SIGHUP: reopened {}", options_.log_path);
    } else {
      LogInfo("received signal {}; shutting down", si.ssi_signo);
      stop_ = true;
    }
  }
}

}  // namespace ttmem::daemon
