// Fuzzes what a hostile client controls in shared memory and in resync frames: the region header,
// ring positions and records, and the sync frames. The session must refuse or apply, never crash,
// and the ledger's invariants must hold.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "daemon/session.h"
#include "ledger/ledger.h"
#include "protocol/shm_abi.h"

namespace proto = ttmem::proto;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A well-formed region of 2 rings x 64 records; the input overwrites it from the start (so the
  // header too, sometimes), and its tail, if any, is fed as sync frames.
  const uint32_t rings = 2, cap = 64;
  const uint64_t region = proto::RegionSize(rings, cap);
  int fd = ::memfd_create("fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(region)) != 0 ||
      ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) != 0)
    return 0;
  void* base = ::mmap(nullptr, region, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  auto* h = static_cast<proto::RegionHeader*>(base);
  proto::InitRegionHeader(h, rings, cap);
  h->rings_used = rings;
  size_t keep_header = size > 0 && (data[0] & 1) ? 0 : sizeof(proto::RegionHeader);
  size_t n = size < region - keep_header ? size : region - keep_header;
  std::memcpy(static_cast<char*>(base) + keep_header, data, n);
  proto::HelloBody hello{};
  hello.protocol_version = proto::kProtocolVersion;
  hello.region_size = region;
  std::string error;
  auto session = ttmem::daemon::Session::Create(1234, ttmem::base::UniqueFd(fd), hello,
                                                /*sink=*/nullptr, &error);
  ttmem::ledger::Ledger ledger;
  if (session) {
    uint64_t restored;
    std::string note;
    // A refused state leaves the session without one: draining goes on as it would in the daemon.
    static_cast<void>(
        session->AttachState(ttmem::base::UniqueFd(), ledger, &restored, &note, &error));
    ttmem::daemon::DrainStats stats;
    bool ok = session->Drain(ledger, false, ttmem::daemon::kMaxRecordsPerDrain, &stats, &error);
    if (ok && size > n + 16) {
      const uint8_t* rest = data + n;
      size_t left = size - n;
      ok = session->BeginSync(ledger, rest, 16, &stats, &error) &&
           session->ApplySync(ledger, rest + 16, left - 16, &stats, &error) &&
           session->EndSync(ledger, &error);
    }
    if (ok)  // what it found wrong is the session's to report; the invariants are checked below
      static_cast<void>(
          session->DrainAllPublished(ledger, ttmem::daemon::kMaxRecordsPerDrain, &stats, &error));
  }
  ::munmap(base, region);
  std::string broken = ledger.CheckInvariantsForTesting();
  if (!broken.empty()) {
    std::fprintf(stderr, "invariant broken: %s\n", broken.c_str());
    std::abort();
  }
  return 0;
}
