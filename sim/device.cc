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
  return std::max(arch_.l1_bank_base(), resident_.cb_top);
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

Device::Resident Device::Dispatch(uint64_t id, const Footprint& f, uint64_t cb_top,
                                  uint64_t kernel_per_core) {
  std::lock_guard<std::mutex> lock(mu_);
  Resident before = resident_;
  if (before.program == id) return before;
  // The CB/L1 clash tt-metal reports at dispatch: CBs grow up from the L1 base, L1 buffers down.
  uint64_t l1_floor = l1_->LowestAllocatedAddress();
  if (cb_top > l1_floor)
    // tt-metal's wording (ProgramImpl::allocate_circular_buffers validation), after the device.
    throw OutOfMemory(fmt::format(
        "device {}: Statically allocated circular buffers in program {} clash with L1 buffers on "
        "core range [(x=0,y=0) - (x={},y={})]. L1 buffer allocated at {} and static circular "
        "buffer region ends at {}",
        id_, id, arch_.grid_x - 1, arch_.grid_y - 1, l1_floor, cb_top));
  if (kernel_per_core > arch_.kernel_config_size)
    throw OutOfMemory(
        fmt::format("out of memory on device {} KERNEL: requested {} per core, {} per core in the "
                    "kernel-config region",
                    id_, ttmem::base::FormatBytes(kernel_per_core),
                    ttmem::base::FormatBytes(arch_.kernel_config_size)));
  SetResident({id, f, cb_top});
  return before;
}

void Device::Restore(const Resident& r) {
  std::lock_guard<std::mutex> lock(mu_);
  SetResident(r);
}

void Device::ProgramDestroyed(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (resident_.program == id) SetResident({});
}

Footprint Device::ResidentFootprint() const {
  std::lock_guard<std::mutex> lock(mu_);
  return resident_.footprint;
}

void Device::SetResident(const Resident& r) {
  resident_ = r;
  usage_[static_cast<int>(MemType::kCb)] = {r.footprint.cb_bytes, r.footprint.cb_bytes ? 1u : 0u};
  usage_[static_cast<int>(MemType::kKernel)] = {r.footprint.kernel_bytes,
                                                r.footprint.kernel_bytes ? 1u : 0u};
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
