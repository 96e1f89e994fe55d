// server.h — ttmemd's event loop: one thread, one epoll, and the rooms it hands events to.
//
//   listener ─accept─▶ Connections ─first frame─┬─ kHello ─▶ Reporters ──▶ Session ─▶ Ledger
//                                               └─ kQuery ─▶ QueryService ──▶ status, history…
//   Session ─applied records─▶ EventStream ─▶ event subscribers
//   tick (timerfd, wake eventfd): Reporters::DrainAll, History, ShmWatcher, metrics, subscriptions
//
// Sources: the listening socket; connections; each client's pidfd (process exit); a timerfd
// that paces draining; the wake eventfd that clients write when the daemon sleeps long; a
// signalfd (SIGTERM/SIGINT stop, SIGHUP reopens the log). Everything runs on the loop thread.
#ifndef TTMEM_DAEMON_SERVER_H_
#define TTMEM_DAEMON_SERVER_H_

#include <sys/epoll.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "daemon/connection.h"
#include "daemon/event_stream.h"
#include "daemon/history.h"
#include "daemon/metrics.h"
#include "daemon/query_service.h"
#include "daemon/reporters.h"
#include "daemon/shm_watcher.h"
#include "ledger/ledger.h"
#include "protocol/frames.h"

namespace ttmem::daemon {

struct Options {
  std::string socket_path;
  uint32_t socket_mode = 0;  // 0: 0666 under /run/ttmem, else 0600
  bool verbose = false;
  std::string log_path;                    // empty: stderr; SIGHUP reopens it
  uint32_t max_connections_per_uid = 256;  // reporting clients and query peers together
  uint64_t max_live_buffers_per_uid = 1ull << 24;
  uint32_t history_seconds = 300;    // samples kept per device and per process (one a second)
  std::string shm_dir = "/dev/shm";  // tt-metal's own statistics; empty: not read
  std::string driver_dir = "/proc/driver/tenstorrent";  // N/pids: who holds device N open
  std::string metrics_listen;                           // ADDR:PORT for Prometheus; empty: off
};

class Server final : private Reporters::Loop {
 public:
  explicit Server(Options options);
  ~Server();
  // Binds the socket (refusing if another daemon serves it), or takes the one systemd passed
  // (socket activation: LISTEN_FDS=1, fd 3). Returns false with *error set.
  [[nodiscard]] bool Start(std::string* error);
  // Runs until SIGTERM/SIGINT. Returns the process exit code.
  int Run();
  int metrics_port() const { return metrics_ ? metrics_->port() : 0; }

 private:
  [[nodiscard]] bool StartLoop(std::string* error);  // the event sources, once listening
  [[nodiscard]] bool Watch(int fd, uint64_t token, uint32_t events = 0x001 /* EPOLLIN */);
  void Dispatch(const epoll_event& e);  // one ready source
  void Accept();
  void OnReadable(Connection& c);
  [[nodiscard]] bool OnFrame(Connection& c, proto::Frame& f);
  // Reporters::Loop.
  void Close(uint64_t id, const std::string& why, bool retire) override;
  void WatchPidfd(Connection& c) override;
  void WantFastTick() override { ScheduleTick(kFastTickMs); }
  int wake_fd() const override { return wake_.get(); }
  // Closes what was doomed (only between events, when nobody holds a connection).
  void ReapDoomed();
  // The tick: drain every session, sample the history, look at tt-metal's regions, refresh the
  // metrics, and set the next tick by how busy the clients are.
  void Tick();
  void ScheduleTick(uint32_t ms);
  void OnTimer();
  void OnSignal();

  static constexpr uint32_t kFastTickMs = 2;
  static constexpr uint32_t kSlowTickMs = 250;
  static constexpr uint32_t kWakeWantedAtMs = 32;  // at and above, clients wake the daemon

  Options options_;
  base::UniqueFd epoll_, listen_, signal_, timer_, wake_;
  bool bound_ = false;
  bool stop_ = false;
  uint64_t next_id_ = 1;
  uint32_t max_connections_ = 0;          // all uids together (fd budget); 0 until Start
  uint32_t max_connections_per_uid_ = 0;  // the flag, lowered to fit the fd budget
  uint64_t fd_limit_ = 0;
  uint64_t refused_connections_ = 0;
  bool listen_paused_ = false;        // accept ran out of fds: the listener waits for the next tick
  bool backlog_ = false;              // the last drain stopped at a work cap: drain again at once
  std::vector<uint64_t> read_again_;  // stopped at the frame cap: read again after the others
  uint32_t tick_ms_ = 0;
  bool wake_wanted_ = false;
  uint64_t started_ns_ = 0;

  ledger::Ledger ledger_;
  History history_;
  std::unique_ptr<MetricsExporter> metrics_;
  // The rooms, made once the epoll exists (StartLoop).
  std::unique_ptr<Connections> conns_;
  std::unique_ptr<EventStream> events_;
  std::unique_ptr<Reporters> reporters_;
  std::unique_ptr<ShmWatcher> shm_;
  std::unique_ptr<QueryService> queries_;
};

}  // namespace ttmem::daemon

#endif  // TTMEM_DAEMON_SERVER_H_
