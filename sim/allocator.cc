#include "sim/allocator.h"

#include <fmt/format.h>

namespace ttsim {

BankAllocator::BankAllocator(std::string name, uint32_t num_banks, uint64_t base,
                             uint64_t bank_size, uint32_t alignment)
    : name_(std::move(name)),
      num_banks_(num_banks),
      base_(base),
      bank_size_(bank_size),
      alignment_(alignment) {
  if (bank_size_ > 0) free_.emplace(base_, bank_size_);
}

uint64_t BankAllocator::SizePerBank(uint64_t size, uint64_t page_size) const {
  if (page_size == 0) page_size = size == 0 ? 1 : size;
  uint64_t pages = (size + page_size - 1) / page_size;
  uint64_t pages_per_bank = (pages + num_banks_ - 1) / num_banks_;
  return AlignUp(pages_per_bank * page_size);
}

void BankAllocator::Take(std::map<uint64_t, uint64_t>::iterator block, uint64_t start,
                         uint64_t size) {
  uint64_t b_start = block->first, b_end = block->first + block->second;
  free_.erase(block);
  if (start > b_start) free_.emplace(b_start, start - b_start);
  if (start + size < b_end) free_.emplace(start + size, b_end - (start + size));
  used_.emplace(start, size);
  allocated_ += size;
}

uint64_t BankAllocator::Allocate(uint64_t size_per_bank, bool bottom_up, uint64_t request_bytes,
                                 uint64_t min_address) {
  uint64_t size = AlignUp(size_per_bank == 0 ? alignment_ : size_per_bank);
  if (bottom_up) {
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      uint64_t start = AlignUp(std::max(it->first, min_address));
      if (start + size <= it->first + it->second) {
        Take(it, start, size);
        return start;
      }
    }
  } else {
    for (auto it = free_.end(); it != free_.begin();) {
      --it;
      uint64_t end = it->first + it->second;
      if (end < size) continue;
      uint64_t start = (end - size) / alignment_ * alignment_;
      if (start >= it->first && start >= min_address) {
        Take(it, start, size);
        return start;
      }
    }
  }
  // tt-metal's wording (tt_metal/impl/allocator/bank_manager.cpp, per-bank figures), after the
  // device: "device 0: Out of Memory: Not enough space to allocate ...".
  const AllocatorStats st = Stats();
  const size_t space = name_.rfind(' ');
  throw OutOfMemory(fmt::format(
      "{}: Out of Memory: Not enough space to allocate {} B {} buffer across {} banks, where each "
      "bank needs to store {} B, but bank size is {} B (allocated: {} B, free: {} B, largest free "
      "block: {} B)",
      name_.substr(0, space), request_bytes, name_.substr(space + 1), num_banks_, size, bank_size_,
      st.total_allocated_bytes, st.total_free_bytes, st.largest_free_block_bytes));
}

bool BankAllocator::AllocateAt(uint64_t address, uint64_t size_per_bank) {
  uint64_t size = AlignUp(size_per_bank == 0 ? alignment_ : size_per_bank);
  auto it = free_.upper_bound(address);
  if (it == free_.begin()) return false;
  --it;
  if (address < it->first || address + size > it->first + it->second) return false;
  Take(it, address, size);
  return true;
}

bool BankAllocator::Deallocate(uint64_t address) {
  auto u = used_.find(address);
  if (u == used_.end()) return false;
  uint64_t start = address, size = u->second;
  allocated_ -= size;
  used_.erase(u);
  auto next = free_.lower_bound(start);
  if (next != free_.end() && next->first == start + size) {
    size += next->second;
    next = free_.erase(next);
  }
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == start) {
      start = prev->first;
      size += prev->second;
      free_.erase(prev);
    }
  }
  free_.emplace(start, size);
  return true;
}

AllocatorStats BankAllocator::Stats() const {
  AllocatorStats s;
  s.total_allocatable_size_bytes = bank_size_;
  s.total_allocated_bytes = allocated_;
  s.total_free_bytes = bank_size_ - allocated_;
  for (const auto& [addr, size] : free_)
    s.largest_free_block_bytes = std::max(s.largest_free_block_bytes, size);
  s.num_allocations = used_.size();
  return s;
}

uint64_t BankAllocator::LowestAllocatedAddress() const {
  return used_.empty() ? base_ + bank_size_ : used_.begin()->first;
}

}  // namespace ttsim
