// allocator.h — a bank-interleaved free-list allocator like tt-metal's: one address range, the
// same in every bank; a buffer takes the same address in every bank, so one address is valid
// everywhere. DRAM allocates bottom-up, L1 top-down (tt-metal's defaults).
#ifndef TTMEM_SIM_ALLOCATOR_H_
#define TTMEM_SIM_ALLOCATOR_H_

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>

#include "base/bytes.h"

namespace ttsim {

// Out of memory: the message names device, type, request and largest free block.
class OutOfMemory : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Per bank, like tt-metal's allocator Statistics.
struct AllocatorStats {
  uint64_t total_allocatable_size_bytes = 0;
  uint64_t total_allocated_bytes = 0;
  uint64_t total_free_bytes = 0;
  uint64_t largest_free_block_bytes = 0;
  uint64_t num_allocations = 0;
};

class BankAllocator {
 public:
  // `name` is used in errors ("device 0 DRAM"). Addresses are [base, base + bank_size).
  BankAllocator(std::string name, uint32_t num_banks, uint64_t base, uint64_t bank_size,
                uint32_t alignment);

  // Size in each bank of an interleaved buffer: its pages spread round-robin over the banks.
  uint64_t SizePerBank(uint64_t size, uint64_t page_size) const;
  // Allocates `size_per_bank` in every bank at an address >= min_address. Throws OutOfMemory,
  // naming `request_bytes` (the buffer's size).
  uint64_t Allocate(uint64_t size_per_bank, bool bottom_up, uint64_t request_bytes,
                    uint64_t min_address = 0);
  // Takes exactly [address, address + size_per_bank) (a mesh allocating in lock step).
  bool AllocateAt(uint64_t address, uint64_t size_per_bank);
  // Frees the block at `address`. Returns false when nothing was allocated there.
  bool Deallocate(uint64_t address);

  AllocatorStats Stats() const;
  uint64_t LowestAllocatedAddress() const;  // base + bank_size when nothing is allocated
  uint32_t num_banks() const { return num_banks_; }
  uint64_t base() const { return base_; }
  uint64_t bank_size() const { return bank_size_; }
  const std::string& name() const { return name_; }

 private:
  uint64_t AlignUp(uint64_t x) const { return (x + alignment_ - 1) / alignment_ * alignment_; }
  void Take(std::map<uint64_t, uint64_t>::iterator block, uint64_t start, uint64_t size);

  std::string name_;
  uint32_t num_banks_;
  uint64_t base_;
  uint64_t bank_size_;
  uint32_t alignment_;
  std::map<uint64_t, uint64_t> free_;  // address -> size, coalesced
  std::map<uint64_t, uint64_t> used_;  // address -> size
  uint64_t allocated_ = 0;
};

}  // namespace ttsim

#endif  // TTMEM_SIM_ALLOCATOR_H_
