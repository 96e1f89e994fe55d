#include "sim/buffer.h"

#include "sim/graph_tracker.h"
#include "sim/observer.h"

namespace ttsim {

std::atomic<uint64_t> Buffer::next_id_{1};

Buffer::Buffer(AllocTarget& target, uint64_t size, uint64_t page_size, MemType type)
    : target_(target),
      id_(next_id_.fetch_add(1, std::memory_order_relaxed)),
      size_(size),
      page_size_(page_size),
      type_(type) {}

std::shared_ptr<Buffer> Buffer::Create(AllocTarget& target, uint64_t size, uint64_t page_size,
                                       MemType type, std::optional<bool> bottom_up) {
  std::shared_ptr<Buffer> b(new Buffer(target, size, page_size, type));
  // Buffer::allocate_impl: the hook first; a blocked allocation never reaches the allocator.
  if (GraphTracker::instance().hook_allocate(b.get())) {
    b->address_ = 0;
    b->hooked_ = true;
  } else {
    bool up = bottom_up.value_or(type != MemType::kL1 && type != MemType::kL1Small);
    b->address_ = target.AllocateBuffer(type, size, page_size, up);
  }
  b->allocated_ = true;
  AllocationObservers::ForEach([&](AllocationObserver& o) { o.BufferAllocated(*b); });
  GraphTracker::instance().track_allocate(b.get());
  return b;
}

std::shared_ptr<Buffer> Buffer::CreateAt(AllocTarget& target, uint64_t address, uint64_t size,
                                         uint64_t page_size, MemType type, bool hooked, bool view) {
  std::shared_ptr<Buffer> b(new Buffer(target, size, page_size, type));
  b->view_ = view;
  b->address_ = address;
  b->owns_data_ = false;
  b->hooked_ = hooked;
  b->allocated_ = true;
  AllocationObservers::ForEach([&](AllocationObserver& o) { o.BufferAllocated(*b); });
  // The address-taking create does not reach the processors (no allocate_impl).
  return b;
}

std::shared_ptr<Buffer> Buffer::View(uint64_t offset, uint64_t size) {
  if (offset == 0 && size == size_) return nullptr;  // tt-metal returns the buffer itself
  return CreateAt(target_, address_ + offset, size, page_size_, type_, hooked_, /*view=*/true);
}

void Buffer::Deallocate() {
  if (!allocated_) return;
  AllocationObservers::ForEach([&](AllocationObserver& o) { o.BufferDeallocated(*this); });
  allocated_ = false;
  if (!owns_data_) return;
  GraphTracker::instance().track_deallocate(this);
  bool hook_took_it = GraphTracker::instance().hook_deallocate(this);
  if (!hooked_ && !hook_took_it) target_.FreeBuffer(type_, address_);
}

Buffer::~Buffer() {
  Deallocate();
}

}  // namespace ttsim
