#include "sim/device.h"

#include <fmt/format.h>

namespace ttsim {

const char* MemTypeName(MemType t) {
  static const char* kNames[] = {"DRAM",  "L1", "SYSTEM_MEMORY", "L1_SMALL",
                                 "TRACE", "CB", "KERNEL"};
  return kNames[static_cast<int>(t)];
}

namespace {
constexpr uint64_t kSystemMemorySize = 1ull << 30;  // host hugepage region per device (model)
}

Device::Device(uint32_t id, const ArchSpec& arch) : id_(id), arch_(arch) {
  auto name = [&](const char* type) { return fmt::format("device {} {}", id, type); };
  uint64_t dram_size = arch.dram_bank_size - arch.trace_region_size;
  dram_ = std::make_unique<BankAllocator>(name("DRAM"), arch.dram_banks, 0, dram_size,
                                          arch.dram_alignment);
  trace_ = std::make_unique<BankAllocator>(name("TRACE"), arch.dram_banks, dram_size,
                                           arch.trace_region_size, arch.dram_alignment);
  l1_ = std::make_unique<BankAllocator>(name("L1"), arch.num_cores(), arch.l1_bank_base(),
                                        arch.l1_bank_size(), arch.l1_alignment);
  l1_small_ =
      std::make_unique<BankAllocator>(name("L1_SMALL"), arch.num_cores(), arch.l1_unreserved_base,
                                      arch.l1_small_size, arch.l1_alignment);
  sysmem_ = std::make_unique<BankAllocator>(name("SYSTEM_MEMORY"), 1, 0, kSystemMemorySize, 64);
  cb_blocks_.resize(arch.num_cores());
  kernel_used_.resize(arch.num_cores());
}

const BankAllocator* Device::BankAllocatorFor(MemType type) const {
  switch (type) {
    case MemType::kDram:
      return dram_.get();
    case MemType::kL1:
      return l1_.get();
    case MemType::kL1Small:
      return l1_small_.get();
    case MemType::kTrace:
      return trace_.get();
    case MemType::kSystemMemory:
      return sysmem_.get();
    default:
      return nullptr;
  }
}

BankAllocator& Device::allocator(MemType type) {
  switch (type) {
    case MemType::kDram:
      return *dram_;
    case MemType::kL1:
      return *l1_;
    case MemType::kL1Small:
      return *l1_small_;
    case MemType::kTrace:
      return *trace_;
    case MemType::kSystemMemory:
      return *sysmem_;
    default:
      throw std::invalid_argument(fmt::format("{} is not a buffer type", MemTypeName(type)));
  }
}

uint64_t Device::CbHighWater() const {
  uint64_t top = arch_.l1_bank_base();
  for (const auto& blocks : cb_blocks_)
    if (!blocks.empty()) top = std::max(top, blocks.rbegin()->first + blocks.rbegin()->second);
  return top;
}

uint64_t Device::AllocateBuffer(MemType type, uint64_t size, uint64_t page_size, bool bottom_up) {
  std::lock_guard<std::mutex> lock(mu_);
  BankAllocator& a = allocator(type);
  // L1 buffers must stay above the circular buffers that live programs placed at the bottom.
  uint64_t min_address = type == MemType::kL1 ? CbHighWater() : 0;
  uint64_t address = a.Allocate(a.SizePerBank(size, page_size), bottom_up, size, min_address);
  buffer_sizes_[static_cast<int>(type)][address] = size;
  usage_[static_cast<int>(type)].bytes += size;
  usage_[static_cast<int>(type)].count += 1;
  return address;
}

void Device::ClaimBufferAt(MemType type, uint64_t address, uint64_t size, uint64_t page_size) {
  std::lock_guard<std::mutex> lock(mu_);
  BankAllocator& a = allocator(type);
  if (!a.AllocateAt(address, a.SizePerBank(size, page_size)))
    throw OutOfMemory(
        fmt::format("{}: address {:#x} is not free for a {} mesh buffer (mesh "
                    "devices out of lock step)",
                    a.name(), address, ttmem::base::FormatBytes(size)));
  buffer_sizes_[static_cast<int>(type)][address] = size;
  usage_[static_cast<int>(type)].bytes += size;
  usage_[static_cast<int>(type)].count += 1;
}

void Device::FreeBuffer(MemType type, uint64_t address) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& sizes = buffer_sizes_[static_cast<int>(type)];
  auto it = sizes.find(address);
  if (it == sizes.end() || !allocator(type).Deallocate(address))
    throw std::logic_error(fmt::format("device {}: free of unallocated {} address {:#x}", id_,
                                       MemTypeName(type), address));
  usage_[static_cast<int>(type)].bytes -= it->second;
  usage_[static_cast<int>(type)].count -= 1;
  sizes.erase(it);
}

void Device::CheckRange(const CoreRange& r) const {
  if (r.x0 > r.x1 || r.y0 > r.y1 || r.x1 >= arch_.grid_x || r.y1 >= arch_.grid_y)
    throw std::invalid_argument(fmt::format("core range ({},{})-({},{}) outside the {}x{} grid",
                                            r.x0, r.y0, r.x1, r.y1, arch_.grid_x, arch_.grid_y));
}

// Like tt-metal's CircularBufferAllocator: the lowest address free on every core of the range,
// bottom-up from the start of the L1 bank, below every L1 buffer.
uint64_t Device::AllocateCircularBuffer(const CoreRange& range, uint64_t size) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckRange(range);
  size = (size + arch_.l1_alignment - 1) / arch_.l1_alignment * arch_.l1_alignment;
  uint64_t addr = arch_.l1_bank_base();
  for (bool moved = true; moved;) {
    moved = false;
    for (uint32_t y = range.y0; y <= range.y1; ++y)
      for (uint32_t x = range.x0; x <= range.x1; ++x)
        for (const auto& [start, len] : cb_blocks_[Core(x, y)])
          if (start < addr + size && addr < start + len) {
            addr = start + len;
            moved = true;
          }
  }
  uint64_t l1_floor = l1_->LowestAllocatedAddress();
  if (addr + size > l1_floor)
    throw OutOfMemory(fmt::format(
        "device {} CB: circular buffer of {} per core at {:#x} would clash with L1 buffers from "
        "{:#x} (largest free CB space {} per core)",
        id_, ttmem::base::FormatBytes(size), addr, l1_floor,
        ttmem::base::FormatBytes(l1_floor > addr ? l1_floor - addr : 0)));
  for (uint32_t y = range.y0; y <= range.y1; ++y)
    for (uint32_t x = range.x0; x <= range.x1; ++x) cb_blocks_[Core(x, y)].emplace(addr, size);
  usage_[static_cast<int>(MemType::kCb)].bytes += size * range.num_cores();
  usage_[static_cast<int>(MemType::kCb)].count += 1;
  return addr;
}

void Device::FreeCircularBuffer(const CoreRange& range, uint64_t address) {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t size = 0;
  for (uint32_t y = range.y0; y <= range.y1; ++y)
    for (uint32_t x = range.x0; x <= range.x1; ++x) {
      auto& blocks = cb_blocks_[Core(x, y)];
      auto it = blocks.find(address);
      if (it == blocks.end())
        throw std::logic_error(fmt::format("device {}: free of unknown CB at {:#x}", id_, address));
      size = it->second;
      blocks.erase(it);
    }
  usage_[static_cast<int>(MemType::kCb)].bytes -= size * range.num_cores();
  usage_[static_cast<int>(MemType::kCb)].count -= 1;
}

void Device::LoadKernel(const CoreRange& range, uint64_t binary_size) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckRange(range);
  for (uint32_t y = range.y0; y <= range.y1; ++y)
    for (uint32_t x = range.x0; x <= range.x1; ++x)
      if (kernel_used_[Core(x, y)] + binary_size > arch_.kernel_config_size)
        throw OutOfMemory(fmt::format(
            "out of memory on device {} KERNEL: requested {} per core, {} of {} per core in use",
            id_, ttmem::base::FormatBytes(binary_size),
            ttmem::base::FormatBytes(kernel_used_[Core(x, y)]),
            ttmem::base::FormatBytes(arch_.kernel_config_size)));
  for (uint32_t y = range.y0; y <= range.y1; ++y)
    for (uint32_t x = range.x0; x <= range.x1; ++x) kernel_used_[Core(x, y)] += binary_size;
  usage_[static_cast<int>(MemType::kKernel)].bytes += binary_size * range.num_cores();
  usage_[static_cast<int>(MemType::kKernel)].count += 1;
}

void Device::UnloadKernel(const CoreRange& range, uint64_t binary_size) {
  std::lock_guard<std::mutex> lock(mu_);
  for (uint32_t y = range.y0; y <= range.y1; ++y)
    for (uint32_t x = range.x0; x <= range.x1; ++x) kernel_used_[Core(x, y)] -= binary_size;
  usage_[static_cast<int>(MemType::kKernel)].bytes -= binary_size * range.num_cores();
  usage_[static_cast<int>(MemType::kKernel)].count -= 1;
}

uint64_t Device::Capacity(MemType type) const {
  switch (type) {
    case MemType::kDram:
      return dram_->bank_size() * dram_->num_banks();
    case MemType::kL1:
    case MemType::kCb:  // circular buffers share the L1 banks with L1 buffers
      return l1_->bank_size() * l1_->num_banks();
    case MemType::kL1Small:
      return l1_small_->bank_size() * l1_small_->num_banks();
    case MemType::kTrace:
      return trace_->bank_size() * trace_->num_banks();
    case MemType::kSystemMemory:
      return sysmem_->bank_size();
    case MemType::kKernel:
      return arch_.kernel_config_size * arch_.num_cores();
  }
  return 0;
}

UsageByType Device::UsageSnapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return usage_;
}

AllocatorStats Device::Statistics(MemType type) const {
  std::lock_guard<std::mutex> lock(mu_);
  return const_cast<Device*>(this)->allocator(type).Stats();
}

}  // namespace ttsim
