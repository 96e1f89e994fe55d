// Fuzzes the ledger with arbitrary operation sequences; every invariant must hold afterwards.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "ledger/ledger.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ttmem::ledger::Ledger l;
  // Each operation: 12 bytes: op, pid, device, type, id(4), size(4).
  for (size_t off = 0; off + 12 <= size; off += 12) {
    const uint8_t* p = data + off;
    pid_t pid = p[1] % 8;
    uint32_t device = p[2] % 4;
    uint32_t id, sz;
    std::memcpy(&id, p + 4, 4);
    std::memcpy(&sz, p + 8, 4);
    id %= 64;
    switch (p[0] % 6) {
      case 0:
      case 1:
        l.Alloc(
            pid, device, p[3], id, 0, sz,
            (p[3] & 0x80) != 0 ? ttmem::ledger::Capture::kEstimate : ttmem::ledger::Capture::kNo,
            (p[0] & 0x40) == 0 ? ttmem::ledger::Replay::kNo : ttmem::ledger::Replay::kTolerant);
        break;
      case 2:
      case 3:
        l.Free(pid, device, id,
               (p[0] & 0x40) == 0 ? ttmem::ledger::Replay::kNo : ttmem::ledger::Replay::kTolerant);
        break;
      case 4:
        l.RemoveProcess(pid,
                        (p[3] & 1) != 0 ? ttmem::ledger::Retire::kYes : ttmem::ledger::Retire::kNo);
        break;
      case 5:
        l.SetDropped(pid, sz);
        break;
    }
  }
  std::string broken = l.CheckInvariantsForTesting();
  if (!broken.empty()) {
    std::fprintf(stderr, "invariant broken: %s\n", broken.c_str());
    std::abort();
  }
  return 0;
}
