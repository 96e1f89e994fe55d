// mapping.h — a shared memory mapping that unmaps itself. C++17 (the client library uses it).
#ifndef TTMEM_BASE_MAPPING_H_
#define TTMEM_BASE_MAPPING_H_

#include <sys/mman.h>

#include <cstddef>
#include <utility>

namespace ttmem::base {

class Mapping {
 public:
  Mapping() = default;
  // MAP_SHARED of `size` bytes of `fd` from offset 0; empty (errno set) when mmap fails.
  static Mapping Shared(int fd, size_t size, int prot) {
    Mapping m;
    void* p = ::mmap(nullptr, size, prot, MAP_SHARED, fd, 0);
    if (p != MAP_FAILED) {
      m.p_ = p;
      m.n_ = size;
    }
    return m;
  }
  ~Mapping() { Reset(); }
  Mapping(Mapping&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  Mapping& operator=(Mapping&& o) noexcept {
    if (this != &o) {
      Reset();
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  void* get() const { return p_; }
  char* bytes() const { return static_cast<char*>(p_); }
  size_t size() const { return n_; }
  explicit operator bool() const { return p_ != nullptr; }
  // Grows or shrinks it (it may move); false, unchanged, when mremap fails.
  bool Resize(size_t size) {
    void* q = ::mremap(p_, n_, size, MREMAP_MAYMOVE);
    if (q == MAP_FAILED) return false;
    p_ = q;
    n_ = size;
    return true;
  }
  void Reset() {
    if (p_ != nullptr) ::munmap(p_, n_);
    p_ = nullptr;
    n_ = 0;
  }

 private:
  void* p_ = nullptr;
  size_t n_ = 0;
};

}  // namespace ttmem::base

#endif  // TTMEM_BASE_MAPPING_H_
