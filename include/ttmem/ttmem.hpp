// ttmem.hpp — a thin C++ wrapper over the C ABI in ttmem.h. Header-only; adds no symbols.
//
//   ttmem::Buffer b(device, ttmem::MemType::Dram, id, address, size);  // reports alloc
//   ...                                                                 // ~Buffer reports free
#ifndef TTMEM_TTMEM_HPP_
#define TTMEM_TTMEM_HPP_

#include <cstdint>

#include "ttmem/ttmem.h"

namespace ttmem {

enum class MemType : int {
  Dram = TTMEM_DRAM,
  L1 = TTMEM_L1,
  SystemMemory = TTMEM_SYSTEM_MEMORY,
  L1Small = TTMEM_L1_SMALL,
  Trace = TTMEM_TRACE,
  Cb = TTMEM_CB,
  Kernel = TTMEM_KERNEL,
};

inline bool enabled() {
  return ttmem_enabled() != 0;
}

inline void alloc(uint32_t device, MemType type, uint64_t id, uint64_t address, uint64_t size) {
  ttmem_alloc(device, static_cast<ttmem_mem_type>(type), id, address, size);
}

inline void free(uint32_t device, uint64_t id) {
  ttmem_free(device, id);
}

inline bool flush(uint32_t timeout_ms) {
  return ttmem_flush(timeout_ms) == 0;
}

// Reports an allocation for its lifetime. Not copyable; movable.
// A scope for the allocations this thread makes while it lives (ttmem_scope_push / pop).
class Scope {
 public:
  explicit Scope(const char* name) { ttmem_scope_push(name); }
  ~Scope() { ttmem_scope_pop(); }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
};

inline bool mark(const char* name) {
  return ttmem_mark(name) == 0;
}

class Buffer {
 public:
  Buffer(uint32_t device, MemType type, uint64_t id, uint64_t address, uint64_t size)
      : device_(device), id_(id), live_(true) {
    alloc(device, type, id, address, size);
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept : device_(o.device_), id_(o.id_), live_(o.live_) { o.live_ = false; }
  ~Buffer() {
    if (live_) free(device_, id_);
  }

 private:
  uint32_t device_;
  uint64_t id_;
  bool live_;
};

}  // namespace ttmem

#endif  // TTMEM_TTMEM_HPP_
