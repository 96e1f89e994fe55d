#include "daemon/session.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include <fmt/format.h>

namespace ttmem::daemon {
namespace {

bool IsPow2(uint32_t x) {
  return x != 0 && (x & (x - 1)) == 0;
}

uint64_t SatAdd(uint64_t a, uint64_t b) {
  uint64_t r = a + b;
  return r < a ? std::numeric_limits<uint64_t>::max() : r;
}

}  // namespace

std::unique_ptr<Session> Session::Create(pid_t pid, base::UniqueFd memfd,
                                         const proto::HelloBody& hello, std::string* error) {
  if (!memfd) {
    *error = "hello without a shared-memory region";
    return nullptr;
  }
  // The client must not be able to shrink the region under us (that would SIGBUS the daemon).
  int seals = ::fcntl(memfd.get(), F_GET_SEALS);
  if (seals < 0 || (seals & F_SEAL_SHRINK) == 0) {
    *error = "region is not a memfd sealed against shrinking";
    return nullptr;
  }
  struct stat st {};
  if (::fstat(memfd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    *error = "region fd is not a regular memfd";
    return nullptr;
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size != hello.region_size || size < sizeof(proto::RegionHeader) || size > (1ull << 36)) {
    *error = fmt::format("region size {} does not match hello ({})", size, hello.region_size);
    return nullptr;
  }
  void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd.get(), 0);
  if (base == MAP_FAILED) {
    *error = fmt::format("mmap of {} bytes failed: {}", size, std::strerror(errno));
    return nullptr;
  }
  std::unique_ptr<Session> s(new Session());
  s->pid_ = pid;
  s->memfd_ = std::move(memfd);
  s->base_ = base;
  s->size_ = size;
  // Copy the header once; never re-read client-owned geometry.
  proto::RegionHeader hdr;
  std::memcpy(static_cast<void*>(&hdr), base, sizeof(hdr));
  if (hdr.magic != proto::kRegionMagic || hdr.version != proto::kProtocolVersion ||
      hdr.header_size != sizeof(proto::RegionHeader) || hdr.record_size != sizeof(proto::Record) ||
      hdr.ring_count == 0 || hdr.ring_count > proto::kMaxRings || !IsPow2(hdr.ring_capacity) ||
      hdr.ring_capacity < proto::kMinRingCapacity || hdr.ring_capacity > proto::kMaxRingCapacity ||
      proto::RegionSize(hdr.ring_count, hdr.ring_capacity) != size) {
    *error = "region header is malformed or of another version";
    return nullptr;
  }
  s->ring_count_ = hdr.ring_count;
  s->ring_capacity_ = hdr.ring_capacity;
  s->read_.resize(hdr.ring_count);
  // Resume where a previous daemon left off (its published read position), if plausible.
  for (uint32_t i = 0; i < hdr.ring_count; ++i) {
    proto::RingControl* ctl = proto::RingAt(base, i);
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

Session::~Session() {
  if (base_ != nullptr) ::munmap(base_, size_);
}

bool Session::Collect(uint32_t ring, uint64_t head, std::string* error) {
  uint64_t from = read_[ring];
  if (head < from || head - from > ring_capacity_) {
    *error = fmt::format("ring {} head {} is impossible (read {}, capacity {})", ring, head, from,
                         ring_capacity_);
    return false;
  }
  const proto::Record* recs = proto::RecordsOf(base_, ring_count_, ring_capacity_, ring);
  for (uint64_t pos = from; pos < head; ++pos) {
    Pending p;
    std::memcpy(static_cast<void*>(&p.record), &recs[pos & (ring_capacity_ - 1)],
                sizeof(proto::Record));
    p.timestamp = p.record.timestamp;
    p.ring = ring;
    p.position = pos;
    scratch_.push_back(p);
  }
  read_[ring] = head;
  return true;
}

bool Session::Drain(ledger::Ledger& ledger, bool final, uint64_t max_records, DrainStats* stats,
                    std::string* error) {
  scratch_.clear();
  // Pass 1.
  std::vector<uint64_t> head1(ring_count_);
  for (uint32_t i = 0; i < ring_count_; ++i)
    head1[i] = proto::RingAt(base_, i)->head.load(std::memory_order_acquire);
  for (uint32_t i = 0; i < ring_count_; ++i) {
    uint64_t head = head1[i];
    if (head - read_[i] > max_records) head = read_[i] + max_records;  // work cap per ring
    if (!Collect(i, head, error)) return false;
  }
  uint64_t watermark = 0;
  for (const Pending& p : pending_) watermark = std::max(watermark, p.timestamp);
  for (const Pending& p : scratch_) watermark = std::max(watermark, p.timestamp);
  if (final) watermark = std::numeric_limits<uint64_t>::max();
  // Pass 2: what happened-before pass 1's records is published by now.
  for (uint32_t i = 0; i < ring_count_; ++i) {
    uint64_t head = proto::RingAt(base_, i)->head.load(std::memory_order_acquire);
    if (head - read_[i] > max_records) head = read_[i] + max_records;
    if (head > read_[i] && !Collect(i, head, error)) return false;
  }
  for (uint32_t i = 0; i < ring_count_; ++i)
    proto::RingAt(base_, i)->read.store(read_[i], std::memory_order_release);

  scratch_.insert(scratch_.end(), pending_.begin(), pending_.end());
  pending_.clear();
  std::sort(scratch_.begin(), scratch_.end(), [](const Pending& a, const Pending& b) {
    if (a.timestamp != b.timestamp) return a.timestamp < b.timestamp;
    if (a.ring != b.ring) return a.ring < b.ring;
    return a.position < b.position;
  });
  for (const Pending& p : scratch_) {
    if (p.timestamp > watermark) {
      pending_.push_back(p);
      continue;
    }
    const proto::Record& r = p.record;
    if (r.device >= proto::kMaxDevices) {
      *error = fmt::format("record with device id {} (limit {})", r.device, proto::kMaxDevices);
      return false;
    }
    if (r.kind == static_cast<uint8_t>(proto::RecordKind::kAlloc)) {
      if (r.type >= ledger::kNumTypes) {
        *error = fmt::format("allocation record with memory type {}", r.type);
        return false;
      }
      if ((r.flags & ~proto::kKnownFlags) != 0) {
        *error = fmt::format("allocation record with unknown flags {:#x}", r.flags);
        return false;
      }
      ledger.Alloc(pid_, r.device, r.type, r.buffer_id, r.address, r.size,
                   (r.flags & proto::kFlagHooked) != 0);
    } else if (r.kind == static_cast<uint8_t>(proto::RecordKind::kFree)) {
      ledger.Free(pid_, r.device, r.buffer_id);
    } else {
      *error = fmt::format("record of unknown kind {}", r.kind);
      return false;
    }
    ++stats->applied;
  }
  // A ring is applied up to its first pending record.
  std::vector<uint64_t> applied(read_);
  for (const Pending& p : pending_) applied[p.ring] = std::min(applied[p.ring], p.position);
  for (uint32_t i = 0; i < ring_count_; ++i)
    proto::RingAt(base_, i)->applied.store(applied[i], std::memory_order_release);
  ledger.SetDropped(pid_, ClientDropped());
  return true;
}

uint64_t Session::ClientDropped() const {
  const auto* hdr = static_cast<const proto::RegionHeader*>(base_);
  uint64_t total = SatAdd(hdr->lost_no_ring.load(std::memory_order_relaxed),
                          hdr->lost_bad_args.load(std::memory_order_relaxed));
  for (uint32_t i = 0; i < ring_count_; ++i)
    total = SatAdd(total, proto::RingAt(base_, i)->dropped.load(std::memory_order_relaxed));
  return total;
}

void Session::SetWakeWanted(bool wanted) {
  static_cast<proto::RegionHeader*>(base_)->wake_wanted.store(wanted ? 1 : 0,
                                                              std::memory_order_relaxed);
}

}  // namespace ttmem::daemon
