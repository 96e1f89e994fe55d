// loop_thread.h — the daemon's state belongs to one thread, the event loop's.
//
// The ledger, the sessions (and their shared drain scratch), the connection table and every
// outbox are used only there; the Prometheus exporter's HTTP threads see only the snapshots the
// loop hands them (metrics.h). LoopThread::Bind() is called by the thread that runs the loop;
// Check() says where that matters and aborts when it is broken (always on: one comparison).
#ifndef TTMEM_DAEMON_LOOP_THREAD_H_
#define TTMEM_DAEMON_LOOP_THREAD_H_

#include <cstdio>
#include <cstdlib>
#include <thread>

namespace ttmem::daemon {

class LoopThread {
 public:
  static void Bind() { Owner() = std::this_thread::get_id(); }
  static bool OnIt() {
    return Owner() == std::thread::id() || Owner() == std::this_thread::get_id();
  }
  static void Check() {
    if (OnIt()) return;
    std::fputs("ttmemd: daemon state used off the loop thread\n", stderr);
    std::abort();
  }

 private:
  static std::thread::id& Owner() {
    static std::thread::id owner;
    return owner;
  }
};

}  // namespace ttmem::daemon

#endif  // TTMEM_DAEMON_LOOP_THREAD_H_
