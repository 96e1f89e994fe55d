#include "sim/graph_tracker.h"

namespace ttsim {
namespace {

// Per thread, as in tt-metal since PR #44668. (tt-metal leaks its per-thread storage on purpose,
// for destructors that run at process exit; the simulator frees everything before it exits, so
// its storage goes with its thread.)
std::vector<std::shared_ptr<IGraphProcessor>>& Processors() {
  static thread_local std::vector<std::shared_ptr<IGraphProcessor>> p;
  return p;
}
std::shared_ptr<IGraphHooks>& Hook() {
  static thread_local std::shared_ptr<IGraphHooks> h;
  return h;
}

}  // namespace

GraphTracker& GraphTracker::instance() {
  static GraphTracker tracker;
  return tracker;
}

void GraphTracker::push_processor(std::shared_ptr<IGraphProcessor> processor) {
  Processors().push_back(std::move(processor));
}
void GraphTracker::pop_processor() {
  if (!Processors().empty()) Processors().pop_back();
}
bool GraphTracker::add_hook(std::shared_ptr<IGraphHooks> hook) {
  if (Hook()) return false;
  Hook() = std::move(hook);
  return true;
}
const std::shared_ptr<IGraphHooks>& GraphTracker::get_hook() const {
  return Hook();
}
const std::vector<std::shared_ptr<IGraphProcessor>>& GraphTracker::get_processors() const {
  return Processors();
}
void GraphTracker::clear() {
  Processors().clear();
  clear_hook();
}
void GraphTracker::clear_hook() {
  Hook().reset();
}

void GraphTracker::track_allocate(const Buffer* buffer) {
  for (auto& p : Processors()) p->track_allocate(buffer);
}
void GraphTracker::track_deallocate(const Buffer* buffer) {
  for (auto& p : Processors()) p->track_deallocate(buffer);
}
void GraphTracker::track_allocate_cb(const CoreRange& range, uint64_t addr, uint64_t size,
                                     bool is_globally_allocated, const Device* device) {
  for (auto& p : Processors())
    p->track_allocate_cb(range, addr, size, is_globally_allocated, device);
}
void GraphTracker::track_deallocate_cb(const Device* device) {
  for (auto& p : Processors()) p->track_deallocate_cb(device);
}
void GraphTracker::track_program(Program* program, const AllocTarget* device) {
  for (auto& p : Processors()) p->track_program(program, device);
}
void GraphTracker::track_function_start(std::string_view name) {
  for (auto& p : Processors()) p->track_function_start(name);
}
void GraphTracker::track_function_end() {
  for (auto& p : Processors()) p->track_function_end();
}
bool GraphTracker::hook_allocate(const Buffer* buffer) {
  return Hook() != nullptr && Hook()->hook_allocate(buffer);
}
bool GraphTracker::hook_deallocate(const Buffer* buffer) {
  return Hook() != nullptr && Hook()->hook_deallocate(buffer);
}
bool GraphTracker::hook_program(const Program* program) {
  return Hook() != nullptr && Hook()->hook_program(program);
}

}  // namespace ttsim
