#include "daemon/server.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
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

#include "base/text.h"
#include "daemon/log.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

namespace ttmem::daemon {
namespace {

constexpr uint32_t kFastTickMs = 2;
constexpr uint32_t kSlowTickMs = 250;
constexpr uint32_t kWakeWantedAtMs = 32;  // at and above this interval, clients wake the daemon
// Records applied per tick over all sessions (each session at most kMaxRecordsPerDrain): one
// tick's work stays a few milliseconds however many clients publish at once.
constexpr uint64_t kMaxRecordsPerTick = 131072;
// File descriptors kept for the daemon itself (epoll, timers, log, metrics, /proc and shm reads),
// and per connection at most (socket, pidfd, region memfd, state table).
constexpr uint64_t kReservedFds = 64;
constexpr uint64_t kFdsPerConnection = 4;

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

bool SameDeviceInfo(const ledger::DeviceInfo& a, const ledger::DeviceInfo& b) {
  return a.arch == b.arch && a.unique_id == b.unique_id && a.num_cores == b.num_cores &&
         a.capacity_bytes == b.capacity_bytes && a.bank_count == b.bank_count &&
         a.bank_base == b.bank_base;
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
  if (path.empty()) {
    *error =
        "--socket is empty; give the path of the socket to create, like /run/ttmem/ttmemd.sock";
    return false;
  }
  // Create the parent directory if missing (0700 for a per-user one, 0755 for /run/ttmem); an
  // existing one must be ours (or root's) and writable by nobody else, unless sticky like /tmp:
  // whoever controls the directory controls the socket in it.
  auto slash = path.rfind('/');
  if (slash != std::string::npos) {
    std::string dir = slash == 0 ? "/" : path.substr(0, slash);
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0) {
      if (::mkdir(dir.c_str(), dir.rfind("/run/", 0) == 0 ? 0755 : 0700) != 0 ||
          ::lstat(dir.c_str(), &st) != 0) {
        *error = fmt::format("cannot create directory {}: {} (choose another --socket)", dir,
                             std::strerror(errno));
        return false;
      }
    }
    if (!S_ISDIR(st.st_mode)) {
      *error = fmt::format(
          "{} is not a directory (a symbolic link or another file): refusing to put the socket "
          "there; remove it or choose another --socket",
          dir);
      return false;
    }
    if (st.st_uid != ::geteuid() && st.st_uid != 0) {
      *error = fmt::format(
          "directory {} belongs to uid {}, not to this daemon's uid {} or root: its owner could "
          "replace the socket; remove it or choose another --socket",
          dir, st.st_uid, ::geteuid());
      return false;
    }
    if ((st.st_mode & 022) != 0 && (st.st_mode & S_ISVTX) == 0) {
      *error = fmt::format(
          "directory {} is writable by other users (mode {:04o}) and not sticky: they could "
          "replace the socket; chmod go-w it or choose another --socket",
          dir, st.st_mode & 07777);
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
        path,
        errno == ENAMETOOLONG ? "the path is longer than a socket address holds (107 bytes)"
                              : std::strerror(errno));
    return false;
  }
  bound_ = true;
  uint32_t mode = options_.socket_mode != 0 ? options_.socket_mode
                                            : (path.rfind("/run/ttmem/", 0) == 0 ? 0666 : 0600);
  ::chmod(path.c_str(), mode);
  return StartLoop(error);
}

void Server::SizeLimitsToFds() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    if (rl.rlim_cur < rl.rlim_max) {
      const rlim_t old = rl.rlim_cur;
      rl.rlim_cur = rl.rlim_max;
      if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) rl.rlim_cur = old;
    }
    fd_limit_ = rl.rlim_cur == RLIM_INFINITY ? (1u << 20) : rl.rlim_cur;
  } else {
    fd_limit_ = 1024;
  }
  const uint64_t conns = fd_limit_ > kReservedFds + kFdsPerConnection
                             ? (fd_limit_ - kReservedFds) / kFdsPerConnection
                             : 1;
  max_connections_ = static_cast<uint32_t>(std::min<uint64_t>(conns, 1u << 30));
  // One uid gets at most half of them, so another user can always connect.
  max_connections_per_uid_ =
      std::max<uint32_t>(1, std::min(options_.max_connections_per_uid, max_connections_ / 2));
  if (max_connections_per_uid_ < options_.max_connections_per_uid)
    LogInfo(
        "open-file limit {}: at most {} connections ({} fds each, {} reserved), {} per uid "
        "(--max-connections-per-uid {} lowered to fit)",
        fd_limit_, max_connections_, kFdsPerConnection, kReservedFds, max_connections_per_uid_,
        options_.max_connections_per_uid);
}

bool Server::StartLoop(std::string* error) {
  const std::string& path = options_.socket_path;
  SizeLimitsToFds();
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
    // A drain that stopped at its work cap goes on at once, after whatever else is ready: other
    // users' queries wait at most one capped drain, and ingest is not paced by the timer.
    int n = ::epoll_wait(epoll_.get(), events, 64, backlog_ || !read_again_.empty() ? 0 : -1);
    if (n == 0 && backlog_ && read_again_.empty()) {
      DrainAll();
      ReapDoomed();
      continue;
    }
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
          if (it == conns_.end() || it->second->doomed) break;
          if (events[i].events & EPOLLOUT) OnConnWritable(*it->second);
          if (it->second->doomed) break;
          if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) OnConnReadable(*it->second);
          break;
        }
        case kPidfd: {
          auto it = conns_.find(id);
          if (it != conns_.end()) Close(id, "process exited");
          break;
        }
      }
      ReapDoomed();
    }
    // Connections stopped at their frame cap, once each, after the events of this round (so
    // they are served even while other sources are always ready).
    if (!read_again_.empty()) {
      std::vector<uint64_t> again;
      again.swap(read_again_);
      for (uint64_t id : again) {
        auto it = conns_.find(id);
        if (it != conns_.end() && !it->second->doomed) OnConnReadable(*it->second);
        ReapDoomed();
      }
    }
    PushSubscriptions();
    ReapDoomed();
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
  for (int budget = 256; budget > 0; --budget) {  // other sources get their turn
    int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) {
        // Out of fds despite the budget (something else holds them): stop listening until the
        // next tick instead of spinning on a listener that stays readable.
        LogError("accept: {}; not accepting for {} ms", std::strerror(errno), kSlowTickMs);
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listen_.get(), nullptr);
        listen_paused_ = true;
        if (tick_ms_ == 0) ScheduleTick(kSlowTickMs);
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        LogError("accept: {}", std::strerror(errno));
      }
      return;
    }
    auto c = std::make_unique<Conn>();
    c->id = next_id_++;
    c->fd.reset(fd);
    if (!base::GetPeerCred(fd, &c->cred)) {
      LogError("SO_PEERCRED failed: {}; dropping connection", std::strerror(errno));
      continue;
    }
    auto by_uid = conns_by_uid_.find(c->cred.uid);
    const uint32_t same_uid = by_uid == conns_by_uid_.end() ? 0 : by_uid->second;
    if (same_uid >= max_connections_per_uid_ || conns_.size() >= max_connections_) {
      ++disconnected_for_errors_;
      ++refused_connections_;
      // One line per power of two: a flood does not flood the log.
      if ((refused_connections_ & (refused_connections_ - 1)) == 0)
        LogWarn("refusing a connection from pid {} uid {}: {} ({} refused so far)", c->cred.pid,
                c->cred.uid,
                same_uid >= max_connections_per_uid_
                    ? fmt::format("uid already has {} connections (--max-connections-per-uid, "
                                  "within the fd budget)",
                                  same_uid)
                    : fmt::format("{} connections in all, the most {} open files allow",
                                  conns_.size(), fd_limit_),
                refused_connections_);
      continue;
    }
    ++conns_by_uid_[c->cred.uid];
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = Token(kConn, c->id);
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
    conns_.emplace(c->id, std::move(c));
  }
}

std::string Server::Describe(const Conn& c) const {
  auto it = meta_.find(c.cred.pid);
  // The name is the process's own choice (comm): the log may be a terminal.
  std::string name = it != meta_.end() ? base::TerminalSafe(it->second.name) : "";
  return fmt::format("pid {} ({}) uid {}", c.cred.pid, name.empty() ? "?" : name, c.cred.uid);
}

void Server::OnConnReadable(Conn& c) {
  const uint64_t id = c.id;
  // Per-connection cap per wake-up: a query can cost milliseconds (a status document at scale),
  // a client frame microseconds; the rest waits for the next epoll round, after everyone else.
  for (int budget = c.role == Role::kQuery ? 4 : 64; budget > 0 && !c.doomed; --budget) {
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
  // The cap was reached: frames may wait in the reader's buffer, where epoll cannot see them (the
  // socket itself may be empty). Come back after everything else ready now has had its turn.
  if (!c.doomed) read_again_.push_back(id);
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
      // Facts announced by one uid are not replaced by another while their announcer lives:
      // a disagreement is an anomaly, counted; the first announcement stands.
      auto& dev = ledger_.devices();
      auto existing = dev.find(b.device);
      auto who = announcer_.find(b.device);
      if (existing != dev.end() && existing->second.info && who != announcer_.end() &&
          who->second.first != c.cred.uid && session_by_pid_.count(who->second.second) != 0) {
        if (!SameDeviceInfo(*existing->second.info, info)) {
          ++device_info_conflicts_;
          if ((device_info_conflicts_ & (device_info_conflicts_ - 1)) == 0)
            LogWarn(
                "{} announced device {} differently from uid {} (pid {}), whose announcement "
                "stands ({} such conflicts so far)",
                Describe(c), b.device, who->second.first, who->second.second,
                device_info_conflicts_);
        }
        return true;
      }
      announcer_[b.device] = {c.cred.uid, c.cred.pid};
      if (existing != dev.end() && existing->second.info &&
          SameDeviceInfo(*existing->second.info, info))
        return true;  // nothing new: no notice, no change
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
      c.session->SetAllowance(Allowance(c.cred.uid), options_.max_live_buffers_per_uid);
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
  session->SetAllowance(Allowance(c.cred.uid), options_.max_live_buffers_per_uid);
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
  c.session->SetAllowance(Allowance(c.cred.uid), options_.max_live_buffers_per_uid);
  if (!c.session->DrainAllPublished(ledger_, kMaxRecordsPerDrain, &stats, &error))
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
  c.out.clear();
  c.out_off = 0;
  AccountOut(c);
  if (auto n = conns_by_uid_.find(c.cred.uid); n != conns_by_uid_.end() && --n->second == 0)
    conns_by_uid_.erase(n);
  conns_.erase(it);
}

void Server::Doom(Conn& c, const std::string& why) {
  if (c.doomed) return;
  if (!why.empty()) LogInfo("closing {}: {}", Describe(c), why);
  c.doomed = true;
  doomed_.push_back(c.id);
}

void Server::ReapDoomed() {
  // Closing one may doom another (a notice to a full subscriber): loop until none is left.
  while (!doomed_.empty()) {
    std::vector<uint64_t> ids;
    ids.swap(doomed_);
    for (uint64_t id : ids) Close(id, "");
  }
}

uint64_t Server::Allowance(uid_t uid) const {
  uint64_t live = 0;
  for (const auto& [pid, id] : session_by_pid_) {
    auto c = conns_.find(id);
    if (c == conns_.end() || c->second->cred.uid != uid) continue;
    auto p = ledger_.processes().find(pid);
    if (p != ledger_.processes().end()) live += p->second.live.size();
  }
  return live >= options_.max_live_buffers_per_uid ? 0 : options_.max_live_buffers_per_uid - live;
}

void Server::DrainAll() {
  ArmTap();
  uint64_t before = events_applied_;
  bool pending = false;
  std::vector<uint64_t> bad;
  // Each uid's live buffers, once; then kept current as sessions drain.
  std::unordered_map<uid_t, uint64_t> live_by_uid;
  auto live_of = [&](pid_t pid) -> uint64_t {
    auto p = ledger_.processes().find(pid);
    return p == ledger_.processes().end() ? 0 : p->second.live.size();
  };
  std::vector<Conn*> sessions;
  sessions.reserve(session_by_pid_.size());
  for (const auto& [pid, id] : session_by_pid_) {
    auto it = conns_.find(id);
    if (it == conns_.end() || !it->second->session || it->second->doomed) continue;
    sessions.push_back(it->second.get());
    live_by_uid[it->second->cred.uid] += live_of(pid);
  }
  // The tick's budget, from a rotating start so that every session gets its turn.
  uint64_t budget = kMaxRecordsPerTick;
  const size_t n = sessions.size();
  backlog_ = false;
  for (size_t k = 0; k < n; ++k) {
    Conn& c = *sessions[(drain_cursor_ + k) % n];
    if (budget == 0) {
      pending = backlog_ = true;
      break;
    }
    const uint64_t cap = std::min(budget, kMaxRecordsPerDrain);
    uint64_t& uid_live = live_by_uid[c.cred.uid];
    const uint64_t limit = options_.max_live_buffers_per_uid;
    c.session->SetAllowance(uid_live >= limit ? 0 : limit - uid_live, limit);
    const uint64_t live_before = live_of(c.cred.pid);
    DrainStats stats;
    std::string error;
    if (!c.session->Drain(ledger_, /*final=*/false, cap, &stats, &error)) {
      LogWarn("disconnecting {}: {}", Describe(c), error);
      bad.push_back(c.id);
    }
    uid_live = uid_live - live_before + live_of(c.cred.pid);
    budget -= std::min(budget, stats.applied);
    events_applied_ += stats.applied;
    pending = pending || c.session->has_pending();
    backlog_ = backlog_ || c.session->capped();
  }
  drain_cursor_ = n == 0 ? 0 : (drain_cursor_ + 1) % n;
  FlushTap();
  for (uint64_t id : bad) {
    ++disconnected_for_errors_;
    Close(id, "");
  }
  if (listen_paused_) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = Token(kListen, 0);
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, listen_.get(), &ev) == 0) listen_paused_ = false;
  }
  history_.MaybeSample(
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count()),
      ledger_);
  // tt-metal's statistics change without telling us; the coverage check compares them with the
  // native figures once a second while native processes exist.
  if (HasSubscribers() || !ledger_.processes().empty()) ScanShm(false);
  if (metrics_) UpdateMetrics();
  if (session_by_pid_.empty()) {
    // No clients: nothing changes until one comes, except what a subscriber has not been sent.
    ScheduleTick(HasSubscribers() || metrics_ || listen_paused_ ? kSlowTickMs : 0);
  } else if (events_applied_ != before || pending) {
    ScheduleTick(kFastTickMs);
  } else {
    ScheduleTick(std::min(kSlowTickMs, std::max(kFastTickMs, tick_ms_ * 2)));
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
