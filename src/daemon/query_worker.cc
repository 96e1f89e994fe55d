#include "daemon/query_worker.h"

#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>

namespace ttmem::daemon {

QueryWorker::QueryWorker() : ready_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

QueryWorker::~QueryWorker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void QueryWorker::Post(Job job) {
  // The thread first: if it cannot start, this throws with nothing queued.
  if (!thread_.joinable()) thread_ = std::thread([this] { Main(); });
  {
    std::lock_guard<std::mutex> lock(mu_);
    todo_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void QueryWorker::RunFinished() {
  uint64_t v;
  while (::read(ready_.get(), &v, sizeof(v)) > 0) {
  }
  std::deque<Job> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    done.swap(finished_);
  }
  for (Job& j : done)
    if (j.done) j.done();
}

void QueryWorker::Main() {
  // Below the loop thread: on a busy host the loop (everyone's pings, status, ingest) is
  // scheduled first, and the expensive replies take the time left (Linux: nice is per thread).
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !todo_.empty(); });
    if (stop_) return;
    Job job = std::move(todo_.front());
    todo_.pop_front();
    lock.unlock();
    if (job.work) job.work();
    job.work = nullptr;  // what it captured is freed here, off the loop
    lock.lock();
    finished_.push_back(std::move(job));
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t w = ::write(ready_.get(), &one, sizeof(one));
  }
}

}  // namespace ttmem::daemon
