// Session: a client's region as libttmem lays it out (a sealed memfd), records written the way a
// client thread writes them, drained into a real ledger.
#include "daemon/session.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vector>

#include <gtest/gtest.h>

#include "base/mapping.h"
#include "protocol/shm_abi.h"

namespace ttmem::daemon {
namespace {

constexpr uint32_t kRings = 2, kCapacity = 64;

class Sink final : public EventSink {
 public:
  bool tapping() const override { return true; }
  void Applied(const proto::EventRecord& r) override { records.push_back(r); }
  std::vector<proto::EventRecord> records;
};

// A client process's region: the header, two rings, and a writer per ring.
class Region {
 public:
  Region() {
    fd_.reset(::memfd_create("session-test", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    const uint64_t size = proto::RegionSize(kRings, kCapacity);
    EXPECT_EQ(::ftruncate(fd_.get(), static_cast<off_t>(size)), 0);
    EXPECT_EQ(::fcntl(fd_.get(), F_ADD_SEALS, F_SEAL_SHRINK), 0);
    map_ = base::Mapping::Shared(fd_.get(), size, PROT_READ | PROT_WRITE);
    proto::InitRegionHeader(header(), kRings, kCapacity);
    header()->rings_used.store(kRings);
  }
  proto::RegionHeader* header() { return static_cast<proto::RegionHeader*>(map_.get()); }
  void Write(uint32_t ring, proto::RecordKind kind, uint32_t device, uint64_t id, uint64_t size,
             uint8_t type = 0) {
    proto::RingControl* ctl = proto::RingAt(map_.get(), ring);
    const uint64_t head = ctl->head.load();
    proto::Record& r = proto::RecordsOf(map_.get(), kRings, kCapacity, ring)[head % kCapacity];
    r = proto::Record{};
    r.key = header()->sequence.fetch_add(1);
    r.buffer_id = id;
    r.address = id * 4096;
    r.size = size;
    r.device = device;
    r.kind = static_cast<uint8_t>(kind);
    r.type = type;
    ctl->head.store(head + 1, std::memory_order_release);
  }
  std::unique_ptr<Session> Open(EventSink* sink, std::string* error) {
    proto::HelloBody hello{};
    hello.protocol_version = proto::kProtocolVersion;
    hello.region_size = proto::RegionSize(kRings, kCapacity);
    return Session::Create(4242, base::UniqueFd(::dup(fd_.get())), hello, sink, error);
  }

 private:
  base::UniqueFd fd_;
  base::Mapping map_;
};

// A session on `region` with a fresh live table, as after a first hello.
std::unique_ptr<Session> Attached(Region& region, EventSink* sink, ledger::Ledger& ledger) {
  std::string error;
  auto s = region.Open(sink, &error);
  EXPECT_NE(s, nullptr) << error;
  uint64_t restored = 0;
  std::string note;
  if (s && !s->AttachState(base::UniqueFd(), ledger, &restored, &note, &error)) {
    ADD_FAILURE() << error;
    return nullptr;
  }
  return s;
}

TEST(Session, DrainsEveryRingInTheProcesssOrder) {
  Region region;
  Sink sink;
  ledger::Ledger ledger;
  auto s = Attached(region, &sink, ledger);
  ASSERT_NE(s, nullptr);
  std::string error;
  // Thread A allocates id 7; thread B frees it afterwards (its key is later): in key order the
  // free finds the allocation, whatever ring is read first.
  region.Write(1, proto::RecordKind::kAlloc, 0, 9, 100);
  region.Write(0, proto::RecordKind::kAlloc, 0, 7, 1000, /*type=*/1);
  region.Write(1, proto::RecordKind::kFree, 0, 7, 0);
  DrainStats stats;
  ASSERT_TRUE(s->Drain(ledger, /*final=*/true, kMaxRecordsPerDrain, &stats, &error)) << error;
  EXPECT_EQ(stats.applied, 3u);
  const auto& p = ledger.processes().at(4242);
  EXPECT_EQ(p.live.size(), 1u);
  EXPECT_EQ(p.counters.unknown_frees, 0u);
  EXPECT_EQ(ledger.devices().at(0).usage[0].bytes, 100u);
  EXPECT_EQ(ledger.devices().at(0).usage[1].bytes, 0u);
  // The sink saw them applied, in that order, with the freed buffer's type and size.
  ASSERT_EQ(sink.records.size(), 3u);
  EXPECT_EQ(sink.records[1].buffer_id, 7u);
  EXPECT_EQ(sink.records[2].kind, static_cast<uint8_t>(proto::EventKind::kFree));
  EXPECT_EQ(sink.records[2].size, 1000u);
  EXPECT_EQ(sink.records[2].type, 1u);
}

TEST(Session, AnImpossibleRecordIsAnError) {
  Region region;
  ledger::Ledger ledger;
  auto s = Attached(region, nullptr, ledger);
  ASSERT_NE(s, nullptr);
  std::string error;
  region.Write(0, proto::RecordKind::kAlloc, /*device=*/proto::kMaxDevices, 1, 10);
  DrainStats stats;
  EXPECT_FALSE(s->Drain(ledger, true, kMaxRecordsPerDrain, &stats, &error));
  EXPECT_NE(error.find("device"), std::string::npos) << error;
}

TEST(Session, ARegionOfAnotherSizeOrLayoutIsRefused) {
  Region region;
  std::string error;
  region.header()->ring_capacity = 63;  // not a power of two
  EXPECT_EQ(region.Open(nullptr, &error), nullptr);
  EXPECT_NE(error.find("malformed"), std::string::npos) << error;
}

TEST(Session, TheUidsLiveBufferLimitHoldsPerRecord) {
  Region region;
  ledger::Ledger ledger;
  auto s = Attached(region, nullptr, ledger);
  ASSERT_NE(s, nullptr);
  std::string error;
  s->SetAllowance(2, 2);
  for (uint64_t id = 1; id <= 3; ++id) region.Write(0, proto::RecordKind::kAlloc, 0, id, 10);
  DrainStats stats;
  EXPECT_FALSE(s->Drain(ledger, true, kMaxRecordsPerDrain, &stats, &error));
  EXPECT_NE(error.find("more live buffers than allowed"), std::string::npos) << error;
  EXPECT_EQ(ledger.processes().at(4242).live.size(), 2u);
}

}  // namespace
}  // namespace ttmem::daemon
