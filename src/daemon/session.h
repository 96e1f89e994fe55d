// session.h — one reporting client process: its shared region, and the drain that turns its
// rings into ledger events in the process's own order.
//
// Ordering: each ring is one thread's events in order; across rings the daemon orders by the
// records' timestamps. A round reads every ring's head twice (pass 1, pass 2). Every record that
// happened-before a record visible in pass 1 was published before pass 1 ended, so it is visible
// in pass 2. The round therefore applies, in timestamp order, every record whose timestamp is at
// most W, the largest timestamp seen in pass 1, and keeps the rest pending for the next round.
// A process that has exited publishes nothing more, so its final round applies everything.
#ifndef TTMEM_DAEMON_SESSION_H_
#define TTMEM_DAEMON_SESSION_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "daemon/state_file.h"
#include "ledger/ledger.h"
#include "protocol/shm_abi.h"
#include "protocol/wire.h"

namespace ttmem::daemon {

struct DrainStats {
  uint64_t applied = 0;
};

class Session {
 public:
  // Validates and maps the client's region. On failure returns null and sets *error.
  static std::unique_ptr<Session> Create(pid_t pid, base::UniqueFd memfd,
                                         const proto::HelloBody& hello, std::string* error);

  // Restores the live table an earlier daemon kept for this client (state_fd valid), or starts a
  // new one; the restored buffers go into the ledger. Returns false only when no table can be
  // made at all. *restored: buffers restored; *note: why a handed-back table was discarded.
  bool AttachState(base::UniqueFd state_fd, ledger::Ledger& ledger, uint64_t* restored,
                   std::string* note, std::string* error);
  int state_fd() const { return state_ ? state_->fd() : -1; }

  // A resync round (docs/protocol.md): kSyncBegin applies every ring record below the heads the
  // client recorded when it switched back to its rings, and holds the rest back; kSync applies
  // the log; kSyncEnd lets the rings go on. Each returns false on malformed input (error set).
  bool BeginSync(ledger::Ledger& ledger, const uint8_t* data, size_t len, DrainStats* stats,
                 std::string* error);
  bool ApplySync(ledger::Ledger& ledger, const uint8_t* data, size_t len, DrainStats* stats,
                 std::string* error);
  bool EndSync(ledger::Ledger& ledger, std::string* error);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Moves published records into the ledger. `final`: the process is gone, apply everything.
  // Returns false when the client wrote something impossible (error set); the caller then
  // disconnects it. Applies at most `max_records` records per call (work cap).
  bool Drain(ledger::Ledger& ledger, bool final, uint64_t max_records, DrainStats* stats,
             std::string* error);

  // Events the client counted as lost (ring full, no ring, bad device), saturating.
  uint64_t ClientDropped() const;
  uint32_t RingsUsed() const;  // rings [0, this) were ever claimed (bounded by ring_count_)

  // Asks the client's next writer to wake the daemon (set when the daemon sleeps long).
  void SetWakeWanted(bool wanted);

  pid_t pid() const { return pid_; }
  bool has_pending() const { return !pending_.empty(); }

  // The event stream: while `tap` is set, every record applied (by any session) is also
  // appended there, stamped `now_ns`. Set by the server while someone subscribes to events.
  static void SetTap(std::vector<proto::EventRecord>* tap, uint64_t now_ns) {
    tap_ = tap;
    tap_now_ns_ = now_ns;
  }

 private:
  Session() = default;
  void Tap(uint8_t kind, uint32_t device, uint8_t type, uint16_t flags, uint64_t id,
           uint64_t address, uint64_t size);
  static inline std::vector<proto::EventRecord>* tap_ = nullptr;
  static inline uint64_t tap_now_ns_ = 0;
  bool syncing_ = false;  // applying a resync log (events flagged kEventFlagResync)
  struct Pending {
    uint64_t timestamp;
    uint32_t ring;
    uint64_t position;
    proto::Record record;
  };
  bool Collect(uint32_t ring, uint64_t head, std::string* error);
  // Validates and applies one event to the ledger and the state table.
  bool Apply(ledger::Ledger& ledger, uint32_t device, uint8_t kind, uint8_t type, uint16_t flags,
             uint64_t buffer_id, uint64_t address, uint64_t size, std::string* error);
  void SaveCounters(const ledger::Ledger& ledger);

  pid_t pid_ = 0;
  base::UniqueFd memfd_;
  void* base_ = nullptr;
  uint64_t size_ = 0;
  uint32_t ring_count_ = 0;
  uint32_t ring_capacity_ = 0;
  std::vector<uint64_t> read_;  // private copies of each ring's read position
  uint64_t last_dropped_ = ~0ull;
  std::vector<uint64_t> head1_;  // Drain's scratch: ring heads seen in pass 1  // the client's drop
                                 // count when last given to the ledger
  std::vector<Pending> pending_;
  std::vector<Pending> scratch_;
  std::unique_ptr<StateFile> state_;
  bool tolerant_ = false;  // replaying after a restore: effects may already be applied
  // Resync rounds: records from a ring's hold on wait while the region announces a round
  // (sync_hold_seq) later than the last one ended here (acked_seq_).
  uint64_t acked_seq_ = 0;
  uint64_t round_ = 0;  // the round begun (kSyncBegin) and not yet ended; 0: none
  uint64_t Limit(uint32_t ring, uint64_t head) const;
};

}  // namespace ttmem::daemon

#endif  // TTMEM_DAEMON_SESSION_H_
