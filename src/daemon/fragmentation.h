// fragmentation.h — free space of one device's memory types, from the addresses the processes
// reported and the bank geometry the device was announced with (ttmem_device_info::bank_count,
// bank_base). Every bank of an interleaved type holds the same address range, so one bank's
// picture is every bank's: a buffer of `size` takes [address, address + ceil(size / banks)).
// Pure; computed on request (it walks every live buffer once).
#ifndef TTMEM_DAEMON_FRAGMENTATION_H_
#define TTMEM_DAEMON_FRAGMENTATION_H_

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

// Per announced device, the types whose geometry is known, in type order; `cells` is clamped to
// 1..1000. One walk over the live buffers: O(buffers log buffers + devices x types x cells),
// whatever the number of devices.
std::map<uint32_t, std::vector<TypeFragmentation>> ComputeFragmentationAll(
    const ledger::Ledger& ledger, uint32_t cells);

}  // namespace ttmem::daemon

#endif  // TTMEM_DAEMON_FRAGMENTATION_H_
