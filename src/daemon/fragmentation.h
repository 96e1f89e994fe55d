// fragmentation.h — free space of one device's memory types, from the addresses the processes
// reported and the bank geometry the device was announced with (ttmem_device_info::bank_count,
// bank_base). Every bank of an interleaved type holds the same address range, so one bank's
// picture is every bank's: a buffer of `size` takes [address, address + ceil(size / banks)).
// Pure: gathered on the loop thread, summarised on the query worker (query_worker.h).
#ifndef TTMEM_DAEMON_FRAGMENTATION_H_
#define TTMEM_DAEMON_FRAGMENTATION_H_

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ledger/ledger.h"

namespace ttmem::daemon {

struct TypeFragmentation {
  int type = 0;
  uint32_t bank_count = 0;
  uint64_t bank_base = 0;
  uint64_t bank_size = 0;      // allocatable bytes per bank: capacity / bank_count
  uint64_t used_per_bank = 0;  // bytes of the range some live buffer covers
  uint64_t free_per_bank = 0;
  uint64_t largest_free_block = 0;  // per bank
  uint64_t free_blocks = 0;
  // Free blocks by size: power-of-two classes, [2^k, 2^(k+1)) -> {blocks, bytes}; only the
  // classes that occur.
  std::map<int, std::array<uint64_t, 2>> free_hist;
  // `cells` characters over [bank_base, bank_base + bank_size): ' ' free, '.' up to a third in
  // use, ':' up to two thirds, '#' more.
  std::string map;
};

// What one device's fragmentation is made from, copied out of the ledger: its facts, its version
// then (ledger::Device::version) and, per type with known geometry, the range [address, address +
// per-bank bytes) of each live buffer. The daemon gathers it on the loop thread (one walk) and
// summarises it on the query worker (the sort).
using Spans = std::vector<std::pair<uint64_t, uint64_t>>;
struct DeviceSpans {
  ledger::DeviceInfo info;
  uint64_t version = 0;
  std::array<Spans, proto::kNumMemTypes> spans;
  void Add(const ledger::LiveEntry& e);  // one buffer (a capture estimate or no geometry: none)
};

// Every announced device in `want` (all when empty), with the spans of every process's buffers
// but `skip`'s (its caller adds them from its own copy). One walk over the processes that hold
// memory on a wanted device.
std::map<uint32_t, DeviceSpans> GatherSpans(const ledger::Ledger& ledger,
                                            const std::vector<uint32_t>& want, pid_t skip = -1);

// The device's types whose geometry is known, in type order; `cells` is clamped to 1..1000.
// Sorts the spans in place: O(spans log spans + types x cells).
std::vector<TypeFragmentation> Summarize(DeviceSpans& d, uint32_t cells);

// Per announced device, the types whose geometry is known, in type order; `cells` is clamped to
// 1..1000. One walk over the live buffers: O(buffers log buffers + devices x types x cells),
// whatever the number of devices.
std::map<uint32_t, std::vector<TypeFragmentation>> ComputeFragmentationAll(
    const ledger::Ledger& ledger, uint32_t cells);

}  // namespace ttmem::daemon

#endif  // TTMEM_DAEMON_FRAGMENTATION_H_
