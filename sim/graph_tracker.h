// graph_tracker.h — tt-metal's GraphTracker, shaped like
// tt_metal/api/tt-metalium/graph_tracking.hpp: processors observe allocations (capture processors
// record a graph; background processors, whose is_capture_processor() is false, just watch); one
// hook may intercept allocations (graph capture with NO_DISPATCH): a hooked buffer bypasses the
// allocator and gets address 0.
//
// The pitfall kept on purpose: since tt-metal PR #44668 the processor stack (and the hook) is
// thread_local, so a processor pushed on one thread misses allocations made on another.
#ifndef TTMEM_SIM_GRAPH_TRACKER_H_
#define TTMEM_SIM_GRAPH_TRACKER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "sim/device.h"

namespace ttsim {

class Buffer;
class Program;

class IGraphProcessor {
 public:
  enum class RunMode { kNormal, kNoDispatch };
  virtual ~IGraphProcessor() = default;
  virtual void track_allocate(const Buffer* /*buffer*/) {}
  virtual void track_deallocate(const Buffer* /*buffer*/) {}
  virtual void track_allocate_cb(const CoreRange& /*range*/, uint64_t /*addr*/, uint64_t /*size*/,
                                 bool /*is_globally_allocated*/, const Device* /*device*/) {}
  virtual void track_deallocate_cb(const Device* /*device*/) {}
  virtual void track_program(const Program* /*program*/) {}
  virtual bool is_capture_processor() const { return true; }
};

class IGraphHooks {
 public:
  virtual ~IGraphHooks() = default;
  virtual bool hook_allocate(const Buffer* buffer) = 0;
  virtual bool hook_deallocate(const Buffer* buffer) = 0;
  virtual bool hook_program(const Program* /*program*/) { return false; }
};

class GraphTracker {
 public:
  static GraphTracker& instance();

  void push_processor(std::shared_ptr<IGraphProcessor> processor);
  void pop_processor();
  bool add_hook(std::shared_ptr<IGraphHooks> hook);  // false if this thread already has one
  void clear_hook();

  void track_allocate(const Buffer* buffer);
  void track_deallocate(const Buffer* buffer);
  void track_allocate_cb(const CoreRange& range, uint64_t addr, uint64_t size,
                         bool is_globally_allocated, const Device* device);
  void track_deallocate_cb(const Device* device);
  void track_program(const Program* program);

  bool hook_allocate(const Buffer* buffer);
  bool hook_deallocate(const Buffer* buffer);
  bool hook_program(const Program* program);

 private:
  static thread_local std::vector<std::shared_ptr<IGraphProcessor>> processors_;
  static thread_local std::shared_ptr<IGraphHooks> hook_;
};

}  // namespace ttsim

#endif  // TTMEM_SIM_GRAPH_TRACKER_H_
