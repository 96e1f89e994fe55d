#include "daemon/server.h"
#include "protocol/frames.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cstring>

#include <fmt/format.h>

#include "base/clock.h"
#include "daemon/listener.h"
#include "daemon/log.h"
#include "daemon/loop_thread.h"

namespace ttmem::daemon {

Server::Server(Options options)
    : options_(std::move(options)), history_(1000, options_.history_seconds) {}

Server::~Server() {
  if (bound_) ::unlink(options_.socket_path.c_str());
}

bool Server::Start(std::string* error) {
  listen_ = InheritedListener();
  if (listen_) {
    LogInfo("using the socket systemd passed (socket activation) for {}", options_.socket_path);
  } else {
    listen_ = BindSocket(options_.socket_path, options_.socket_mode, error);
    if (!listen_) return false;
    bound_ = true;
  }
  return StartLoop(error);
}

bool Server::Watch(int fd, uint64_t token, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = token;
  return ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) == 0;
}

bool Server::StartLoop(std::string* error) {
  LoopThread::Bind();
  const FdBudget budget = SizeToFds(options_.max_connections_per_uid);
  fd_limit_ = budget.fd_limit;
  max_connections_ = budget.connections;
  max_connections_per_uid_ = budget.per_uid;
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
  if (!epoll_ || !signal_ || !timer_ || !wake_ ||
      !Watch(listen_.get(), Token(Source::kListen, 0)) ||
      !Watch(signal_.get(), Token(Source::kSignal, 0)) ||
      !Watch(timer_.get(), Token(Source::kTimer, 0)) ||
      !Watch(wake_.get(), Token(Source::kWake, 0))) {
    *error = fmt::format("cannot create event sources: {}", std::strerror(errno));
    return false;
  }
  started_ns_ = base::MonotonicNs();
  conns_ = std::make_unique<Connections>(epoll_.get());
  events_ = std::make_unique<EventStream>(*conns_);
  Reporters::Loop& loop = *this;
  reporters_ = std::make_unique<Reporters>(ledger_, *events_, *conns_, loop,
                                           options_.max_live_buffers_per_uid);
  conns_->describe = [this](const Connection& c) { return reporters_->Describe(c); };
  events_->owner = [this](pid_t pid) -> std::optional<uid_t> {
    auto m = reporters_->meta().find(pid);
    if (m == reporters_->meta().end()) return std::nullopt;
    return m->second.uid;
  };
  shm_ = std::make_unique<ShmWatcher>(options_.shm_dir, options_.driver_dir);
  queries_ = std::make_unique<QueryService>(QueryService::Context{
      ledger_, *reporters_, *shm_, history_, *events_, *conns_, [this] { Tick(); },
      [this](uint64_t id) { read_again_.push_back(id); }, options_.socket_path, started_ns_});
  if (queries_->worker_fd() < 0 || !Watch(queries_->worker_fd(), Token(Source::kWorker, 0))) {
    *error = fmt::format("cannot create the query worker's event source: {}", std::strerror(errno));
    return false;
  }
  LogInfo("ttmemd listening on {} (protocol {})", options_.socket_path, proto::kProtocolVersion);
  return true;
}

int Server::Run() {
  epoll_event events[64];
  while (!stop_) {
    // A drain that stopped at its work cap goes on at once, after whatever else is ready: other
    // users' queries wait at most one capped drain, and ingest is not paced by the timer.
    int n = ::epoll_wait(epoll_.get(), events, 64, backlog_ || !read_again_.empty() ? 0 : -1);
    if (n == 0 && backlog_ && read_again_.empty()) {
      Tick();
      ReapDoomed();
      continue;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      LogError("epoll_wait: {}", std::strerror(errno));
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      Dispatch(events[i]);
      ReapDoomed();
    }
    // Connections stopped at their frame cap, once each, after the events of this round (so
    // they are served even while other sources are always ready).
    std::vector<uint64_t> again;
    again.swap(read_again_);
    for (uint64_t id : again) {
      if (Connection* c = conns_->Find(id); c != nullptr && !c->doomed) OnReadable(*c);
      ReapDoomed();
    }
    queries_->PushSubscriptions();
    ReapDoomed();
  }
  // Clean shutdown: apply what clients published, then let them go.
  Tick();
  LogInfo("ttmemd stopping; removing {}", options_.socket_path);
  return 0;
}

// One ready source's event, by the kind its token names.
void Server::Dispatch(const epoll_event& e) {
  const uint64_t token = e.data.u64;
  const uint64_t id = token & ((uint64_t{1} << 56) - 1);
  switch (static_cast<Source>(token >> 56)) {
    case Source::kListen:
      Accept();
      break;
    case Source::kSignal:
      OnSignal();
      break;
    case Source::kTimer:
      OnTimer();
      break;
    case Source::kWake: {
      uint64_t v;
      while (::read(wake_.get(), &v, sizeof(v)) > 0) {
      }
      Tick();
      break;
    }
    case Source::kWorker:
      queries_->OnWorkerDone();
      break;
    case Source::kConn: {
      Connection* c = conns_->Find(id);
      if (c == nullptr || c->doomed) break;
      if (e.events & EPOLLOUT) conns_->Flush(*c);
      if (c->doomed) break;
      if (c->held) {  // its reply is being built: only a hang-up is looked at
        if (e.events & (EPOLLHUP | EPOLLERR)) Close(id, "", /*retire=*/true);
        break;
      }
      if (e.events & (EPOLLIN | EPOLLHUP | EPOLLERR)) OnReadable(*c);
      break;
    }
    case Source::kPidfd:
      Close(id, "process exited", /*retire=*/true);
      break;
  }
}

void Server::Accept() {
  for (int budget = 256; budget > 0; --budget) {  // other sources get their turn
    int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) {
        // Out of fds despite the budget (something else holds them): stop listening until the
        // next tick instead of spinning on a listener that stays readable.
        LogError("accept: {}; not accepting for {} ms", std::strerror(errno), kSlowTickMs);
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listen_.get(), nullptr);  // fails only if absent
        listen_paused_ = true;
        if (tick_ms_ == 0) ScheduleTick(kSlowTickMs);
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        LogError("accept: {}", std::strerror(errno));
      }
      return;
    }
    auto c = std::make_unique<Connection>();
    c->id = next_id_++;
    c->fd.reset(fd);
    if (!base::GetPeerCred(fd, &c->cred)) {
      LogError("SO_PEERCRED failed: {}; dropping connection", std::strerror(errno));
      continue;
    }
    const uint32_t same_uid = conns_->OfUid(c->cred.uid);
    if (same_uid >= max_connections_per_uid_ || conns_->size() >= max_connections_) {
      conns_->CountError();
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
                                  conns_->size(), fd_limit_),
                refused_connections_);
      continue;
    }
    if (!Watch(fd, Token(Source::kConn, c->id), EPOLLIN | EPOLLRDHUP)) {
      LogError("epoll_ctl: {}; dropping the connection of pid {}", std::strerror(errno),
               c->cred.pid);
      continue;
    }
    conns_->Add(std::move(c));
  }
}

void Server::OnReadable(Connection& c) {
  const uint64_t id = c.id;
  // Per-connection cap per wake-up: a query can cost milliseconds (a status document at scale),
  // a client frame microseconds; the rest waits for the next epoll round, after everyone else.
  for (int budget = c.role == Role::kQuery ? 4 : 64; budget > 0 && !c.doomed; --budget) {
    if (c.held) return;  // read again once its reply is out (QueryService resumes it)
    proto::Frame f;
    proto::ReadResult r = c.reader.Next(c.fd.get(), &f);
    if (r == proto::ReadResult::kAgain) return;
    if (r == proto::ReadResult::kClosed || r == proto::ReadResult::kError) {
      Close(id, c.role == Role::kClient ? "client disconnected" : "", /*retire=*/true);
      return;
    }
    if (r == proto::ReadResult::kMalformed) {
      conns_->CountError();
      LogWarn("disconnecting {}: {}", reporters_->Describe(c), c.reader.error());
      Close(id, "", /*retire=*/true);
      return;
    }
    if (!OnFrame(c, f)) {
      conns_->CountError();
      Close(id, "", /*retire=*/true);
      return;
    }
    if (conns_->Find(id) == nullptr) return;
  }
  // The cap was reached: frames may wait in the reader's buffer, where epoll cannot see them (the
  // socket itself may be empty). Come back after everything else ready now has had its turn.
  if (!c.doomed) read_again_.push_back(id);
}

bool Server::OnFrame(Connection& c, proto::Frame& f) {
  const auto type = static_cast<proto::FrameType>(f.header.type);
  if (c.role == Role::kUnknown) {
    if (type == proto::FrameType::kHello) return reporters_->OnHello(c, f);
    if (type != proto::FrameType::kQuery) {
      LogWarn("disconnecting {}: first frame of type {} (expected hello or query)",
              reporters_->Describe(c), f.header.type);
      return false;
    }
    c.role = Role::kQuery;
  }
  if (c.role == Role::kClient) return reporters_->OnFrame(c, f);
  if (type != proto::FrameType::kQuery || f.passed_fd || f.passed_fd2) {
    LogWarn("disconnecting query peer {}: unexpected frame type {}", reporters_->Describe(c),
            f.header.type);
    return false;
  }
  queries_->Handle(c, f);
  return true;
}

void Server::WatchPidfd(Connection& c) {
  if (!Watch(c.client.pidfd.get(), Token(Source::kPidfd, c.id)))
    LogWarn("epoll_ctl on the pidfd of {}: {}; its exit is seen when its socket closes",
            reporters_->Describe(c), std::strerror(errno));
}

void Server::Close(uint64_t id, const std::string& why, bool retire) {
  Connection* c = conns_->Find(id);
  if (c == nullptr) return;
  if (!why.empty() && options_.verbose) LogInfo("{}: {}", reporters_->Describe(*c), why);
  reporters_->End(*c, retire);
  events_->Unsubscribe(*c);
  // Removing a closed fd from the epoll cannot fail in a way that matters: closing it does too.
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c->fd.get(), nullptr);
  if (c->client.pidfd) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c->client.pidfd.get(), nullptr);
  conns_->Erase(id);
}

void Server::ReapDoomed() {
  // Closing one may doom another (a notice to a full subscriber): loop until none is left.
  for (std::vector<uint64_t> ids = conns_->TakeDoomed(); !ids.empty(); ids = conns_->TakeDoomed())
    for (uint64_t id : ids) Close(id, "", /*retire=*/true);
}

void Server::Tick() {
  const uint64_t before = reporters_->events_applied();
  const Reporters::Drained drained = reporters_->DrainAll();
  backlog_ = drained.backlog;
  for (uint64_t id : drained.broken) {
    conns_->CountError();
    Close(id, "", /*retire=*/true);
  }
  if (listen_paused_ && Watch(listen_.get(), Token(Source::kListen, 0))) listen_paused_ = false;
  history_.MaybeSample(base::UnixMs(), ledger_);
  // tt-metal's statistics change without telling us; the coverage check compares them with the
  // native figures once a second while native processes exist.
  const bool watched = queries_->HasSubscribers();
  if (watched || !ledger_.processes().empty()) shm_->Scan(ledger_, false);
  if (metrics_) queries_->UpdateMetrics(*metrics_);
  if (!reporters_->any()) {
    // No clients: nothing changes until one comes, except what a subscriber has not been sent.
    ScheduleTick(watched || metrics_ || listen_paused_ ? kSlowTickMs : 0);
  } else if (reporters_->events_applied() != before || drained.more) {
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
  if (::timerfd_settime(timer_.get(), 0, &spec, nullptr) != 0)
    LogError("timerfd_settime: {}", std::strerror(errno));
  const bool want = ms >= kWakeWantedAtMs;
  if (want != wake_wanted_ || want) {
    wake_wanted_ = want;
    reporters_->SetWakeWanted(want);
  }
}

void Server::OnTimer() {
  uint64_t expirations;
  while (::read(timer_.get(), &expirations, sizeof(expirations)) > 0) {
  }
  Tick();
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
