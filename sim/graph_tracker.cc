#include "sim/graph_tracker.h"

namespace ttsim {

thread_local std::vector<std::shared_ptr<IGraphProcessor>> GraphTracker::processors_;
thread_local std::shared_ptr<IGraphHooks> GraphTracker::hook_;

GraphTracker& GraphTracker::instance() {
  static GraphTracker tracker;
  return tracker;
}

void GraphTracker::push_processor(std::shared_ptr<IGraphProcessor> processor) {
  processors_.push_back(std::move(processor));
}
void GraphTracker::pop_processor() {
  if (!processors_.empty()) processors_.pop_back();
}
bool GraphTracker::add_hook(std::shared_ptr<IGraphHooks> hook) {
  if (hook_) return false;
  hook_ = std::move(hook);
  return true;
}
void GraphTracker::clear_hook() {
  hook_.reset();
}

void GraphTracker::track_allocate(const Buffer* buffer) {
  for (auto& p : processors_) p->track_allocate(buffer);
}
void GraphTracker::track_deallocate(const Buffer* buffer) {
  for (auto& p : processors_) p->track_deallocate(buffer);
}
void GraphTracker::track_allocate_cb(const CoreRange& range, uint64_t addr, uint64_t size,
                                     bool is_globally_allocated, const Device* device) {
  for (auto& p : processors_)
    p->track_allocate_cb(range, addr, size, is_globally_allocated, device);
}
void GraphTracker::track_deallocate_cb(const Device* device) {
  for (auto& p : processors_) p->track_deallocate_cb(device);
}
void GraphTracker::track_program(const Program* program) {
  for (auto& p : processors_) p->track_program(program);
}
bool GraphTracker::hook_allocate(const Buffer* buffer) {
  return hook_ != nullptr && hook_->hook_allocate(buffer);
}
bool GraphTracker::hook_deallocate(const Buffer* buffer) {
  return hook_ != nullptr && hook_->hook_deallocate(buffer);
}
bool GraphTracker::hook_program(const Program* program) {
  return hook_ != nullptr && hook_->hook_program(program);
}

}  // namespace ttsim
