// buffer.h — tt-metal's Buffer: Create() asks the GraphTracker hook first (a hooked allocation
// bypasses the allocator and gets address 0), else the allocator; CreateAt() takes a pre-allocated
// address and owns no memory (what MeshBuffer does for each device). Every buffer has a unique id.
#ifndef TTMEM_SIM_BUFFER_H_
#define TTMEM_SIM_BUFFER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

#include "sim/device.h"

namespace ttsim {

class Buffer {
 public:
  static std::shared_ptr<Buffer> Create(AllocTarget& target, uint64_t size, uint64_t page_size,
                                        MemType type, std::optional<bool> bottom_up = {});
  // `hooked`: the address came from a hooked (captured) buffer, so no memory stands behind it.
  static std::shared_ptr<Buffer> CreateAt(AllocTarget& target, uint64_t address, uint64_t size,
                                          uint64_t page_size, MemType type, bool hooked = false);
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  // Frees the buffer (idempotent): observers and processors first, then the allocator.
  void Deallocate();

  uint64_t id() const { return id_; }
  uint64_t address() const { return address_; }
  uint64_t size() const { return size_; }
  uint64_t page_size() const { return page_size_; }
  MemType type() const { return type_; }
  AllocTarget& target() const { return target_; }
  bool hooked() const { return hooked_; }
  bool owns_data() const { return owns_data_; }
  bool allocated() const { return allocated_; }

 private:
  Buffer(AllocTarget& target, uint64_t size, uint64_t page_size, MemType type);
  static std::atomic<uint64_t> next_id_;

  AllocTarget& target_;
  uint64_t id_;
  uint64_t size_;
  uint64_t page_size_;
  MemType type_;
  uint64_t address_ = 0;
  bool hooked_ = false;
  bool owns_data_ = true;
  bool allocated_ = false;
};

}  // namespace ttsim

#endif  // TTMEM_SIM_BUFFER_H_
