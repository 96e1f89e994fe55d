// buffer.h — tt-metal's Buffer: Create() asks the GraphTracker hook first (a blocked allocation
// bypasses the allocator and gets address 0), else the allocator, then tells the processors
// (track_allocate); CreateAt() is the address-taking Buffer::create: it owns no memory and the
// processors never hear of it (MeshBuffer's per-device buffers, View(), CreateBuffer(config,
// address)). Every buffer has a unique id.
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
                                          uint64_t page_size, MemType type, bool hooked = false,
                                          bool view = false);
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  // Buffer::view(region): a buffer at this one's address + offset that owns no memory.
  std::shared_ptr<Buffer> View(uint64_t offset, uint64_t size);

  // Frees the buffer (idempotent): processors first, then the allocator. A buffer that owns no
  // memory is only forgotten (tt-metal's Buffer::deallocate returns at once for it).
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
  bool is_view() const { return view_; }

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
  bool view_ = false;
};

}  // namespace ttsim

#endif  // TTMEM_SIM_BUFFER_H_
