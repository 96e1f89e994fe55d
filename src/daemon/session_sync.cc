// session_sync.cc — a session's resync rounds (docs/protocol.md): what a client could not put
// in its rings (before a daemon, after one went away, after an overflow) arrives as a log, held
// in order with the ring records around it.
#include <cstring>

#include <fmt/format.h>

#include "daemon/session.h"

namespace ttmem::daemon {

uint64_t Session::Limit(uint32_t ring, uint64_t head) const {
  // Read after the head (acquire): a record published after the client's switch implies that
  // its hold and round number are visible here.
  uint64_t seq =
      static_cast<proto::RegionHeader*>(map_.get())->sync_hold_seq.load(std::memory_order_acquire);
  if (seq == acked_seq_) return head;
  uint64_t hold = proto::RingAt(map_.get(), ring)->hold.load(std::memory_order_relaxed);
  return std::min(head, std::max(hold, read_[ring]));
}

bool Session::BeginSync(ledger::Ledger& ledger, const uint8_t* data, size_t len, DrainStats* stats,
                        std::string* error) {
  proto::SyncBeginBody b;
  uint64_t announced =
      static_cast<proto::RegionHeader*>(map_.get())->sync_hold_seq.load(std::memory_order_acquire);
  if (len != sizeof(b) || round_ != 0) {
    *error = fmt::format("sync begin of {} bytes (round open: {})", len, round_ != 0);
    return false;
  }
  std::memcpy(&b, data, sizeof(b));
  if (b.sequence != announced || b.sequence == acked_seq_) {
    *error = fmt::format("sync begin for round {}, the region announces {} (last ended {})",
                         b.sequence, announced, acked_seq_);
    return false;
  }
  round_ = b.sequence;
  // Everything below the holds was published before the client switched: apply all of it.
  return DrainAllPublished(ledger, kMaxRecordsPerDrain, stats, error);
}

bool Session::ApplySync(ledger::Ledger& ledger, const uint8_t* data, size_t len, DrainStats* stats,
                        std::string* error) {
  if (round_ == 0) {
    *error = "sync records outside a round";
    return false;
  }
  if (len % sizeof(proto::SyncRecord) != 0) {
    *error = fmt::format("sync frame of {} bytes is not a whole number of records", len);
    return false;
  }
  syncing_ = true;
  for (size_t off = 0; off < len; off += sizeof(proto::SyncRecord)) {
    proto::SyncRecord r;
    std::memcpy(&r, data + off, sizeof(r));
    const Event e = Event::Of(r);
    if (e.kind == static_cast<uint8_t>(proto::RecordKind::kMark)) {
      *error = "a mark in a resync log (marks are not kept there)";
      syncing_ = false;
      return false;
    }
    if (!Validate(e, error) || !Apply(ledger, e, error)) {
      syncing_ = false;
      return false;
    }
    ++stats->applied;
  }
  syncing_ = false;
  return true;
}

bool Session::EndSync(ledger::Ledger& ledger, std::string* error) {
  if (round_ == 0) {
    *error = "sync end outside a round";
    return false;
  }
  acked_seq_ = round_;
  round_ = 0;
  ledger.SetDropped(pid_, ClientDropped());
  SaveCounters(ledger);
  return true;
}

}  // namespace ttmem::daemon
