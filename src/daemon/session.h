// session.h — one reporting client process: its shared region, and the drain that turns its
// rings into ledger events in the process's own order.
//
// Ordering: each ring is one thread's events in order; across rings the daemon orders by the
// records' keys (their numbers in the process's sequence). A round reads every ring's head twice
// (pass 1, pass 2). Every record that happened-before a record visible in pass 1 was published
// before pass 1 ended, so it is visible in pass 2. The round therefore applies, in key order,
// every record whose key is at most W, the largest key seen in pass 1, and leaves the rest in the
// rings for the next round (the daemon's read position goes back to the first record not
// applied; the client cannot reuse those slots, which are released only up to there). A ring the
// work cap stopped short lowers W to the last key copied from it: its next records may be older
// than other rings'.
// A process that has exited publishes nothing more, so its final rounds apply everything.
#ifndef TTMEM_DAEMON_SESSION_H_
#define TTMEM_DAEMON_SESSION_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/mapping.h"
#include "base/unique_fd.h"
#include "daemon/state_file.h"
#include "ledger/ledger.h"
#include "protocol/shm_abi.h"
#include "protocol/wire.h"

namespace ttmem::daemon {

// Where a session reports each record it applies: the event stream (daemon/event_stream.h), when
// anyone subscribes. Handed to every session at creation.
class EventSink {
 public:
  // Whether anyone wants the records now (the session builds none otherwise).
  virtual bool tapping() const = 0;
  // One applied record; the sink stamps its time.
  virtual void Applied(const proto::EventRecord& record) = 0;

 protected:
  ~EventSink() = default;
};

struct DrainStats {
  uint64_t applied = 0;
};

// Records one drain of one session copies at most: bounds the daemon's memory per drain (the
// scratch is shared) and its work per session per tick.
inline constexpr uint64_t kMaxRecordsPerDrain = 65536;

class Session {
 public:
  // Validates and maps the client's region. On failure returns null and sets *error.
  // `sink` (may be null) outlives the session.
  static std::unique_ptr<Session> Create(pid_t pid, base::UniqueFd memfd,
                                         const proto::HelloBody& hello, EventSink* sink,
                                         std::string* error);

  // Restores the live table an earlier daemon kept for this client (state_fd valid), or starts a
  // new one; the restored buffers go into the ledger. Returns false only when no table can be
  // made at all. *restored: buffers restored; *note: why a handed-back table was discarded.
  [[nodiscard]] bool AttachState(base::UniqueFd state_fd, ledger::Ledger& ledger,
                                 uint64_t* restored, std::string* note, std::string* error);
  int state_fd() const { return state_ ? state_->fd() : -1; }

  // A resync round (docs/protocol.md): kSyncBegin applies every ring record below the heads the
  // client recorded when it switched back to its rings, and holds the rest back; kSync applies
  // the log; kSyncEnd lets the rings go on. Each returns false on malformed input (error set).
  [[nodiscard]] bool BeginSync(ledger::Ledger& ledger, const uint8_t* data, size_t len,
                               DrainStats* stats, std::string* error);
  [[nodiscard]] bool ApplySync(ledger::Ledger& ledger, const uint8_t* data, size_t len,
                               DrainStats* stats, std::string* error);
  [[nodiscard]] bool EndSync(ledger::Ledger& ledger, std::string* error);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Moves published records into the ledger. `final`: the process is gone, apply everything
  // published. Returns false when the client wrote something impossible (error set); the caller
  // then disconnects it. Copies at most `max_records` records per call, spread over the rings
  // (memory and work cap); each is validated as it is copied, before the next. What is left, or
  // could not be ordered yet, stays in the rings for the next call (has_pending()).
  [[nodiscard]] bool Drain(ledger::Ledger& ledger, bool final, uint64_t max_records,
                           DrainStats* stats, std::string* error);
  // Drain(final) until nothing published is left (each call bounded; used at the end and before
  // a resync round).
  [[nodiscard]] bool DrainAllPublished(ledger::Ledger& ledger, uint64_t max_records,
                                       DrainStats* stats, std::string* error);

  // New live buffers this process may still add before the call that applies records fails
  // ("over the uid's limit"): its uid's allowance less what the uid holds. Frees give back.
  void SetAllowance(uint64_t n, uint64_t limit) {
    allowance_ = n;
    limit_ = limit;
  }

  // Events the client counted as lost (ring full, no ring, bad device), saturating.
  uint64_t ClientDropped() const;
  uint32_t RingsUsed() const;  // rings [0, this) were ever claimed (bounded by ring_count_)

  // Asks the client's next writer to wake the daemon (set when the daemon sleeps long).
  void SetWakeWanted(bool wanted);

  pid_t pid() const { return pid_; }
  bool has_pending() const { return more_; }
  // The last drain stopped at the work cap with records published and not copied (as opposed to
  // records waiting for an older one of another thread): drain again soon.
  bool capped() const { return capped_; }

 private:
  Session() = default;
  // One event, from a ring record or a resync record, as the session checks and applies it.
  struct Event {
    uint32_t device;
    uint8_t kind;  // proto::RecordKind
    uint8_t type;
    uint16_t flags;      // proto::kKnownFlags
    uint32_t op;         // the allocating scope's id (a mark's: the scope it was made in)
    uint64_t buffer_id;  // a mark's: its name's id
    uint64_t address;
    uint64_t size;
    static Event Of(const proto::Record& r);
    static Event Of(const proto::SyncRecord& r);
  };
  void Tap(uint8_t kind, const Event& e, uint8_t type, uint16_t flags, uint64_t address,
           uint64_t size);
  EventSink* sink_ = nullptr;
  bool syncing_ = false;  // applying a resync log (events flagged kEventFlagResync)
  struct Pending {
    uint64_t key;  // the record's ordering key (its place in the process's sequence)
    uint32_t ring;
    uint64_t position;
    proto::Record record;
  };
  // Copies ring records [read_[ring], head) into the scratch, at most *budget of them, each
  // validated before the next is copied. Sets cut_[ring] when the budget stopped it short.
  [[nodiscard]] bool Collect(uint32_t ring, uint64_t head, uint64_t* budget, std::string* error);
  // The shape of an event (kind, device, type, flags, op, size); false with *error set.
  [[nodiscard]] static bool Validate(const Event& e, std::string* error);
  // Drain's second half: the collected records applied in key order up to `watermark`.
  [[nodiscard]] bool ApplyOrdered(ledger::Ledger& ledger, uint64_t watermark, DrainStats* stats,
                                  std::string* error);
  // Drain's scratch, shared by every session (the daemon drains on its loop thread only).
  static std::vector<Pending>& Scratch();
  // Applies one validated event to the ledger and the state table.
  [[nodiscard]] bool Apply(ledger::Ledger& ledger, const Event& e, std::string* error);
  void SaveCounters(const ledger::Ledger& ledger);

  pid_t pid_ = 0;
  base::UniqueFd memfd_;
  base::Mapping map_;  // the client's region
  uint32_t ring_count_ = 0;
  uint32_t ring_capacity_ = 0;
  std::vector<uint64_t> read_;     // private copies of each ring's read position
  uint64_t last_dropped_ = ~0ull;  // the client's drop count when last given to the ledger
  std::vector<uint64_t> head1_;    // Drain's scratch: ring heads seen in pass 1
  std::vector<uint64_t> last_;     // Drain's scratch: per ring, the key of its last record copied
  std::vector<uint8_t> cut_;       // Drain's scratch: per ring, 1 when the budget stopped it short
  std::vector<uint64_t> budget_;   // Drain's scratch: per ring, records it may still copy
  bool more_ = false;              // the last drain left published records in the rings
  bool capped_ = false;            // ... because of the work cap
  uint64_t allowance_ = UINT64_MAX;
  uint64_t limit_ = UINT64_MAX;  // the uid's limit, for the message
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
