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
  // Buffer::allocate_impl: the hook first; a hooked allocation never reaches the allocator.
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
                                         uint64_t page_size, MemType type, bool hooked) {
  std::shared_ptr<Buffer> b(new Buffer(target, size, page_size, type));
  b->address_ = address;
  b->owns_data_ = false;
  b->hooked_ = hooked;
  b->allocated_ = true;
  AllocationObservers::ForEach([&](AllocationObserver& o) { o.BufferAllocated(*b); });
  GraphTracker::instance().track_allocate(b.get());
  return b;
}

void Buffer::Deallocate() {
  if (!allocated_) return;
  AllocationObservers::ForEach([&](AllocationObserver& o) { o.BufferDeallocated(*this); });
  GraphTracker::instance().track_deallocate(this);
  bool hook_took_it = GraphTracker::instance().hook_deallocate(this);
  if (!hooked_ && !hook_took_it && owns_data_) target_.FreeBuffer(type_, address_);
  allocated_ = false;
}

Buffer::~Buffer() {
  Deallocate();
}

}  // namespace ttsim
