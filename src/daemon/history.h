// history.h — what the daemon remembers of the recent past: a bounded ring of samples per device
// and per live process (used bytes of each memory type, one sample a second by default), so a
// monitor that starts now can draw the last minutes at once. Pure: the caller supplies the time.
#ifndef TTMEM_DAEMON_HISTORY_H_
#define TTMEM_DAEMON_HISTORY_H_

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "ledger/ledger.h"
#include "model/replies.h"

namespace ttmem::daemon {

class History {
 public:
  struct Sample {
    uint64_t unix_ms = 0;
    std::array<uint64_t, proto::kNumMemTypes> used{};  // bytes, by ttmem_mem_type
  };
  // A fixed-capacity ring, oldest first when read.
  class Series {
   public:
    void Push(const Sample& s, size_t capacity);
    std::vector<Sample> Samples() const;

   private:
    std::vector<Sample> ring_;
    size_t next_ = 0;  // where the next sample goes once the ring is full
  };

  History(uint32_t interval_ms, size_t capacity) : interval_ms_(interval_ms), capacity_(capacity) {}

  // Takes a sample if `interval_ms` has passed since the last one. Processes that left the ledger
  // lose their series (their history ends with them); devices keep theirs.
  void MaybeSample(uint64_t now_unix_ms, const ledger::Ledger& ledger);

  // The `history` reply (model/replies.h); optionally only one device and/or one process.
  model::HistoryReply Reply(std::optional<uint32_t> device, std::optional<pid_t> pid) const;

  uint32_t interval_ms() const { return interval_ms_; }

 private:
  uint32_t interval_ms_;
  size_t capacity_;
  uint64_t last_ms_ = 0;
  std::map<uint32_t, Series> devices_;
  std::map<pid_t, Series> processes_;
};

}  // namespace ttmem::daemon

#endif  // TTMEM_DAEMON_HISTORY_H_
