#include "daemon/session.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "daemon/loop_thread.h"

static_assert(ttmem::ledger::kMaxSize == ttmem::proto::kMaxBufferBytes);

namespace ttmem::daemon {
namespace {

bool IsPow2(uint32_t x) {
  return x != 0 && (x & (x - 1)) == 0;
}

uint64_t SatAdd(uint64_t a, uint64_t b) {
  uint64_t r = a + b;
  return r < a ? std::numeric_limits<uint64_t>::max() : r;
}

// The region's fd as a hello must bring it: a memfd sealed against shrinking (a client must not
// shrink it under us: that would SIGBUS the daemon), of the size announced. *size: its size.
bool CheckRegionFd(const base::UniqueFd& memfd, uint64_t announced, uint64_t* size,
                   std::string* error) {
  if (!memfd) {
    *error = "hello without a shared-memory region";
    return false;
  }
  int seals = ::fcntl(memfd.get(), F_GET_SEALS);
  if (seals < 0 || (seals & F_SEAL_SHRINK) == 0) {
    *error = "region is not a memfd sealed against shrinking";
    return false;
  }
  struct stat st {};
  if (::fstat(memfd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    *error = "region fd is not a regular memfd";
    return false;
  }
  *size = static_cast<uint64_t>(st.st_size);
  if (*size != announced || *size < sizeof(proto::RegionHeader) || *size > (1ull << 36)) {
    *error = fmt::format("region size {} does not match hello ({})", *size, announced);
    return false;
  }
  return true;
}

// The header copied out of the region: of a version we speak, with a geometry that fits `size`.
bool HeaderValid(const proto::RegionHeader& hdr, uint64_t size) {
  return hdr.magic == proto::kRegionMagic && hdr.version >= proto::kMinProtocolVersion &&
         hdr.version <= proto::kProtocolVersion && hdr.header_size == sizeof(proto::RegionHeader) &&
         hdr.record_size == sizeof(proto::Record) && hdr.ring_count != 0 &&
         hdr.ring_count <= proto::kMaxRings && IsPow2(hdr.ring_capacity) &&
         hdr.ring_capacity >= proto::kMinRingCapacity &&
         hdr.ring_capacity <= proto::kMaxRingCapacity &&
         proto::RegionSize(hdr.ring_count, hdr.ring_capacity) == size;
}

}  // namespace

std::unique_ptr<Session> Session::Create(pid_t pid, base::UniqueFd memfd,
                                         const proto::HelloBody& hello, EventSink* sink,
                                         std::string* error) {
  uint64_t size = 0;
  if (!CheckRegionFd(memfd, hello.region_size, &size, error)) return nullptr;
  base::Mapping map = base::Mapping::Shared(memfd.get(), size, PROT_READ | PROT_WRITE);
  if (!map) {
    *error = fmt::format("mmap of {} bytes failed: {}", size, std::strerror(errno));
    return nullptr;
  }
  std::unique_ptr<Session> s(new Session());
  s->pid_ = pid;
  s->sink_ = sink;
  s->memfd_ = std::move(memfd);
  s->map_ = std::move(map);
  // Copy the header once; never re-read client-owned geometry.
  proto::RegionHeader hdr;
  std::memcpy(static_cast<void*>(&hdr), s->map_.get(), sizeof(hdr));
  if (!HeaderValid(hdr, size)) {
    *error = "region header is malformed or of another version";
    return nullptr;
  }
  s->ring_count_ = hdr.ring_count;
  // A round announced before we started is over for us: the client puts back what it could not
  // deliver and begins a new one.
  s->acked_seq_ = static_cast<proto::RegionHeader*>(s->map_.get())
                      ->sync_hold_seq.load(std::memory_order_acquire);
  s->ring_capacity_ = hdr.ring_capacity;
  s->read_.resize(hdr.ring_count);
  // Resume where a previous daemon left off (its published read position), if plausible.
  for (uint32_t i = 0; i < hdr.ring_count; ++i) {
    proto::RingControl* ctl = proto::RingAt(s->map_.get(), i);
    uint64_t head = ctl->head.load(std::memory_order_acquire);
    uint64_t read = ctl->read.load(std::memory_order_relaxed);
    if (read > head || head - read > hdr.ring_capacity)
      read = head > hdr.ring_capacity ? head - hdr.ring_capacity : 0;
    s->read_[i] = read;
    ctl->read.store(read, std::memory_order_release);
    ctl->applied.store(read, std::memory_order_release);
  }
  return s;
}

Session::~Session() = default;

std::vector<Session::Pending>& Session::Scratch() {
  LoopThread::Check();
  static std::vector<Pending> scratch;
  return scratch;
}

Session::Event Session::Event::Of(const proto::Record& r) {
  return Event{r.device, r.kind, r.type, r.flags, r.op, r.buffer_id, r.address, r.size};
}

Session::Event Session::Event::Of(const proto::SyncRecord& r) {
  return Event{r.device,
               r.kind,
               r.type,
               static_cast<uint16_t>(r.flags & ((1u << proto::kSyncOpShift) - 1)),
               static_cast<uint32_t>(r.flags >> proto::kSyncOpShift),
               r.buffer_id,
               r.address,
               r.size};
}

bool Session::Validate(const Event& e, std::string* error) {
  if (e.device >= proto::kMaxDevices) {
    *error = fmt::format("record with device id {} (limit {})", e.device, proto::kMaxDevices);
    return false;
  }
  if (e.op > proto::kMaxOpNames) {
    *error = fmt::format("record with op {} (limit {})", e.op, proto::kMaxOpNames);
    return false;
  }
  if (e.kind == static_cast<uint8_t>(proto::RecordKind::kFree)) return true;
  if (e.kind == static_cast<uint8_t>(proto::RecordKind::kMark)) {
    if (e.buffer_id != 0 && e.buffer_id <= proto::kMaxOpNames) return true;
    *error = fmt::format("mark record with name id {} (1 to {})", e.buffer_id, proto::kMaxOpNames);
    return false;
  }
  if (e.kind != static_cast<uint8_t>(proto::RecordKind::kAlloc)) {
    *error = fmt::format("record of unknown kind {}", e.kind);
    return false;
  }
  if (e.type >= proto::kNumMemTypes) {
    *error = fmt::format("allocation record with memory type {}", e.type);
    return false;
  }
  if ((e.flags & ~proto::kKnownFlags) != 0) {
    *error = fmt::format("allocation record with unknown flags {:#x}", e.flags);
    return false;
  }
  if (e.size > proto::kMaxBufferBytes) {
    *error = fmt::format("allocation record of {} bytes (limit {}, TTMEM_MAX_BUFFER_BYTES)", e.size,
                         proto::kMaxBufferBytes);
    return false;
  }
  return true;
}

bool Session::Collect(uint32_t ring, uint64_t head, uint64_t* budget, std::string* error) {
  uint64_t from = read_[ring];
  if (head < from || head - from > ring_capacity_) {
    *error = fmt::format("ring {} head {} is impossible (read {}, capacity {})", ring, head, from,
                         ring_capacity_);
    return false;
  }
  if (head - from > *budget) {
    head = from + *budget;
    cut_[ring] = 1;
  }
  *budget -= head - from;
  std::vector<Pending>& scratch = Scratch();
  const proto::Record* recs = proto::RecordsOf(map_.get(), ring_count_, ring_capacity_, ring);
  for (uint64_t pos = from; pos < head; ++pos) {
    Pending p;
    std::memcpy(static_cast<void*>(&p.record), &recs[pos & (ring_capacity_ - 1)],
                sizeof(proto::Record));
    const proto::Record& r = p.record;  // the copy: the client may change the ring meanwhile
    if (!Validate(Event::Of(r), error)) {
      *error = fmt::format("ring {} position {}: {}", ring, pos, *error);
      return false;
    }
    p.key = r.key;
    p.ring = ring;
    p.position = pos;
    last_[ring] = p.key;
    scratch.push_back(p);
  }
  read_[ring] = head;
  return true;
}

bool Session::Drain(ledger::Ledger& ledger, bool final, uint64_t max_records, DrainStats* stats,
                    std::string* error) {
  std::vector<Pending>& scratch = Scratch();
  scratch.clear();
  more_ = false;
  capped_ = false;
  // Pass 1.
  // Only rings ever claimed (the client says which; bounded here). Read before the heads, and
  // again before pass 2, so that a ring claimed before a pass-1 record was published is seen.
  const uint32_t used1 = RingsUsed();
  head1_.resize(ring_count_);
  last_.assign(ring_count_, 0);
  cut_.assign(ring_count_, 0);
  // The work cap, shared fairly: every ring in use may contribute (at least 64 records each).
  const uint32_t used_final = final ? ring_count_ : used1;
  const uint64_t per_ring = std::max<uint64_t>(64, max_records / std::max<uint32_t>(used_final, 1));
  std::vector<uint64_t>& budget = budget_;
  budget.assign(ring_count_, per_ring);
  for (uint32_t i = 0; i < used1; ++i)
    head1_[i] = proto::RingAt(map_.get(), i)->head.load(std::memory_order_acquire);
  for (uint32_t i = 0; i < used1; ++i)
    if (!Collect(i, Limit(i, head1_[i]), &budget[i], error)) return false;
  if (scratch.empty() && !final) {
    // Idle: nothing to order or apply, and nothing to publish (applied == read already). Most
    // sessions are idle at most ticks; this keeps a drain of hundreds of them cheap.
    const uint64_t dropped = ClientDropped();
    if (dropped != last_dropped_) ledger.SetDropped(pid_, dropped);
    last_dropped_ = dropped;
    tolerant_ = false;
    return true;
  }
  uint64_t watermark = 0;
  for (const Pending& p : scratch) watermark = std::max(watermark, p.key);
  if (final) watermark = std::numeric_limits<uint64_t>::max();
  // Pass 2: what happened-before pass 1's records is published by now.
  const uint32_t used2 = final ? ring_count_ : RingsUsed();
  for (uint32_t i = 0; i < used2; ++i) {
    uint64_t head = Limit(i, proto::RingAt(map_.get(), i)->head.load(std::memory_order_acquire));
    if (head > read_[i] && !cut_[i] && !Collect(i, head, &budget[i], error)) return false;
  }
  // A ring stopped short may hold older records than other rings' last ones.
  for (uint32_t i = 0; i < ring_count_; ++i)
    if (cut_[i]) watermark = std::min(watermark, last_[i]);
  if (!ApplyOrdered(ledger, watermark, stats, error)) return false;
  // The scratch's memory is the cap's; let a burst's peak go.
  if (scratch.capacity() > 2 * max_records) std::vector<Pending>().swap(scratch);
  last_dropped_ = ClientDropped();
  ledger.SetDropped(pid_, last_dropped_);
  SaveCounters(ledger);
  // After a restore, replays may go on until the rings' backlog is through (a capped drain).
  if (!capped_) tolerant_ = false;
  return true;
}

// Applies the collected records in key order up to the watermark; a ring's read position comes
// back to its first record not applied (released only up to there, so a restarted daemon finds
// every unapplied record still in the ring).
bool Session::ApplyOrdered(ledger::Ledger& ledger, uint64_t watermark, DrainStats* stats,
                           std::string* error) {
  std::vector<Pending>& scratch = Scratch();
  std::sort(scratch.begin(), scratch.end(), [](const Pending& a, const Pending& b) {
    if (a.key != b.key) return a.key < b.key;
    if (a.ring != b.ring) return a.ring < b.ring;
    return a.position < b.position;
  });
  // What is not applied now goes back to the ring: the read position returns to it.
  std::vector<uint64_t>& applied = budget_;  // reused: per ring, the first position not applied
  for (uint32_t i = 0; i < ring_count_; ++i) applied[i] = read_[i];
  for (const Pending& p : scratch) {
    if (p.key > watermark) {
      applied[p.ring] = std::min(applied[p.ring], p.position);
      more_ = true;
      continue;
    }
    if (applied[p.ring] <= p.position) continue;  // after a record of its ring left for later
    const proto::Record& r = p.record;
    if (!Apply(ledger, Event::Of(r), error)) return false;
    ++stats->applied;
  }
  for (uint32_t i = 0; i < ring_count_; ++i) {
    if (cut_[i]) more_ = capped_ = true;
    read_[i] = applied[i];
    proto::RingAt(map_.get(), i)->applied.store(applied[i], std::memory_order_release);
    proto::RingAt(map_.get(), i)->read.store(applied[i], std::memory_order_release);
  }
  return true;
}

bool Session::DrainAllPublished(ledger::Ledger& ledger, uint64_t max_records, DrainStats* stats,
                                std::string* error) {
  for (;;) {
    const uint64_t before = stats->applied;
    if (!Drain(ledger, /*final=*/true, max_records, stats, error)) return false;
    if (!more_) return true;
    if (stats->applied == before) {  // nothing could be ordered: the keys are impossible
      *error = "ring records whose ordering keys go backwards";
      return false;
    }
  }
}

bool Session::Apply(ledger::Ledger& ledger, const Event& e, std::string* error) {
  // Validated by the caller: ring records as they are copied (Collect), sync records in
  // ApplySync.
  const ledger::Replay replay = tolerant_ ? ledger::Replay::kTolerant : ledger::Replay::kNo;
  const uint32_t device = e.device;
  const uint64_t buffer_id = e.buffer_id;
  if (e.kind == static_cast<uint8_t>(proto::RecordKind::kMark)) {  // no figures: the stream's
    if (sink_ && sink_->tapping())
      Tap(static_cast<uint8_t>(proto::EventKind::kMark), e, proto::kEventNoType, 0, 0, 0);
    return true;
  }
  if (e.kind == static_cast<uint8_t>(proto::RecordKind::kAlloc)) {
    bool hooked = (e.flags & proto::kFlagHooked) != 0;
    // The state-table slot lives in the ledger entry: reuse it when the id is live.
    ledger::LiveBuffer old;
    const bool replaces = ledger.Find(pid_, device, buffer_id, &old);
    uint32_t slot = replaces ? old.state_slot : StateFile::kNoSlot;
    // The uid's live-buffer limit holds as records are applied, not after a whole drain.
    if (!replaces && allowance_ == 0) {
      *error = fmt::format(
          "its uid would hold more live buffers than allowed (over --max-live-buffers-per-uid {})",
          limit_);
      return false;
    }
    if (!replaces) --allowance_;
    if (state_) {
      slot = state_->Put(slot, device, buffer_id,
                         ledger::LiveBuffer{e.address, e.size, 0, e.type, hooked});
      if (slot == StateFile::kNoSlot) {
        *error = "live table full (more than 64 Mi live buffers)";
        return false;
      }
    }
    if (ledger.Alloc(pid_, device, e.type, buffer_id, e.address, e.size,
                     hooked ? ledger::Capture::kEstimate : ledger::Capture::kNo, replay, slot,
                     static_cast<uint16_t>(e.op)) ==
        ledger::Result::kInvalid) {  // the only cause left: the device's total would wrap
      *error = fmt::format("allocation of {} bytes would wrap device {}'s total", e.size, device);
      return false;
    }
    if (sink_ && sink_->tapping())
      Tap(static_cast<uint8_t>(proto::EventKind::kAlloc), e, e.type, e.flags, e.address, e.size);
  } else {
    ledger::LiveBuffer freed;
    const bool known = ledger.Free(pid_, device, buffer_id, replay, &freed) == ledger::Result::kOk;
    if (known && allowance_ != UINT64_MAX) ++allowance_;
    if (known && state_) state_->Release(freed.state_slot);
    if (sink_ && sink_->tapping()) {
      Event f = e;
      f.op = known ? freed.op : 0;  // a free carries the freed buffer's op, as its type and size
      Tap(static_cast<uint8_t>(proto::EventKind::kFree), f,
          known ? freed.type : proto::kEventNoType,
          known && freed.hooked ? proto::kEventFlagHooked : uint16_t{0}, known ? freed.address : 0,
          known ? freed.size : 0);
    }
  }
  return true;
}

void Session::Tap(uint8_t kind, const Event& ev, uint8_t type, uint16_t flags, uint64_t address,
                  uint64_t size) {
  proto::EventRecord e{};
  e.pid = pid_;
  e.device = ev.device;
  e.type = type;
  e.kind = kind;
  e.flags = static_cast<uint16_t>((flags & proto::kEventFlagHooked) |
                                  (syncing_ ? proto::kEventFlagResync : 0));
  e.op = ev.op;
  e.buffer_id = ev.buffer_id;
  e.address = address;
  e.size = size;
  sink_->Applied(e);
}

void Session::SaveCounters(const ledger::Ledger& ledger) {
  if (!state_) return;
  auto it = ledger.processes().find(pid_);
  if (it != ledger.processes().end())
    state_->SetCounters(it->second.counters.unknown_frees, it->second.counters.duplicate_allocs);
}

bool Session::AttachState(base::UniqueFd state_fd, ledger::Ledger& ledger, uint64_t* restored,
                          std::string* note, std::string* error) {
  *restored = 0;
  if (state_fd) {
    std::string why;
    state_ = StateFile::Open(pid_, std::move(state_fd), &why);
    if (state_) {
      uint64_t unknown = state_->unknown_frees(), dup = state_->duplicate_allocs();
      // Restored buffers were made before this daemon started: their age is unknown.
      const uint32_t now = ledger.now_seconds();
      ledger.SetNowSeconds(0);
      uint64_t bad = state_->ForEach(
          [&](uint32_t slot, uint32_t device, uint64_t id, const ledger::LiveBuffer& b) {
            if (ledger.Find(pid_, device, id)) return false;  // a duplicate slot
            if (allowance_ == 0 || b.size > proto::kMaxBufferBytes) return false;
            if (ledger.Alloc(pid_, device, b.type, id, b.address, b.size,
                             b.hooked ? ledger::Capture::kEstimate : ledger::Capture::kNo,
                             ledger::Replay::kNo, slot) != ledger::Result::kOk)
              return false;
            if (allowance_ != UINT64_MAX) --allowance_;
            ++*restored;
            return true;
          });
      ledger.SetNowSeconds(now);
      ledger.RestoreCounters(pid_, unknown, dup);
      if (bad != 0) *note = fmt::format("dropped {} invalid entries of the handed-back table", bad);
      tolerant_ = true;  // the first drain may replay records whose effect is already here
      return true;
    }
    *note = "discarded the handed-back table: " + why;
  }
  state_ = StateFile::Create(pid_, error);
  return state_ != nullptr;
}

uint32_t Session::RingsUsed() const {
  const auto* hdr = static_cast<const proto::RegionHeader*>(map_.get());
  return std::min(hdr->rings_used.load(std::memory_order_acquire), ring_count_);
}

uint64_t Session::ClientDropped() const {
  const auto* hdr = static_cast<const proto::RegionHeader*>(map_.get());
  return SatAdd(hdr->overflowed.load(std::memory_order_relaxed),
                hdr->lost_bad_args.load(std::memory_order_relaxed));
}

void Session::SetWakeWanted(bool wanted) {
  static_cast<proto::RegionHeader*>(map_.get())
      ->wake_wanted.store(wanted ? 1 : 0, std::memory_order_relaxed);
}

}  // namespace ttmem::daemon
