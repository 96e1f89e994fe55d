// query_worker.h — the one thread that builds the expensive replies (snapshot, buffers,
// fragmentation) off the loop, so that one user's 1 M-buffer snapshot never stalls another's ping.
//
// A job has two halves: `work` runs on the worker and touches only what the job owns (copies the
// loop made for it); `done` runs back on the loop thread (RunFinished, when fd() is readable) and
// may use the daemon's state again. Jobs run one at a time, in the order posted; the caller keeps
// at most one in flight (QueryService), so the copies alive at any moment are one job's.
#ifndef TTMEM_DAEMON_QUERY_WORKER_H_
#define TTMEM_DAEMON_QUERY_WORKER_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "base/unique_fd.h"

namespace ttmem::daemon {

class QueryWorker {
 public:
  struct Job {
    std::function<void()> work;  // on the worker thread
    std::function<void()> done;  // then on the loop thread
  };
  QueryWorker();
  ~QueryWorker();  // finishes the job running, drops the rest (their `done` never runs)
  QueryWorker(const QueryWorker&) = delete;
  QueryWorker& operator=(const QueryWorker&) = delete;

  // Readable (an eventfd) when a job's `done` is ready to run; -1 if it could not be made.
  int fd() const { return ready_.get(); }
  // From the loop thread. The thread starts with the first job.
  void Post(Job job);
  // From the loop thread when fd() is readable: runs the `done` of every finished job.
  void RunFinished();

 private:
  void Main();

  base::UniqueFd ready_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> todo_;      // guarded by mu_
  std::deque<Job> finished_;  // guarded by mu_
  bool stop_ = false;         // guarded by mu_
};

}  // namespace ttmem::daemon

#endif  // TTMEM_DAEMON_QUERY_WORKER_H_
