// graph_tracker.h — tt-metal's GraphTracker, shaped like
// tt_metal/api/tt-metalium/graph_tracking.hpp (with PR #44668's thread_local state): processors
// observe allocations (capture processors record a graph; background processors, whose
// is_capture_processor() is false, just watch); one hook may intercept buffer and program
// operations. ttnn's graph capture installs a hook in both run modes; only NO_DISPATCH blocks (a
// blocked buffer gets address 0, a blocked program is not dispatched).
//
// Built as its own shared library (libttsim_graph.so), as GraphTracker lives in libtt_metal.so, so
// that ttmem's processor shell interposes clear() the way libttmem_tt_metal.so does.
//
// The pitfall kept on purpose: the processor stack and the hook are per thread, so a processor
// pushed on one thread misses allocations made on another, and clear() wipes the calling thread's.
#ifndef TTMEM_SIM_GRAPH_TRACKER_H_
#define TTMEM_SIM_GRAPH_TRACKER_H_

#include <cstdint>
#include <memory>
#include <string_view>
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
  // ttnn's device-operation launch, for every program it dispatches (a Device or a MeshDevice).
  virtual void track_program(Program* /*program*/, const AllocTarget* /*device*/) {}
  virtual void track_function_start(std::string_view /*name*/) {}
  virtual void track_function_end() {}
  virtual bool is_capture_processor() const { return true; }
};

class IGraphHooks {
 public:
  virtual ~IGraphHooks() = default;
  virtual bool hook_allocate(const Buffer* buffer) = 0;
  virtual bool hook_deallocate(const Buffer* buffer) = 0;
  virtual bool hook_program(const Program* /*program*/) { return false; }
};

// ttnn's ProcessorHooks: installed by a capture in either mode; blocks only in NO_DISPATCH.
class CaptureHooks : public IGraphHooks {
 public:
  explicit CaptureHooks(IGraphProcessor::RunMode mode)
      : block_(mode == IGraphProcessor::RunMode::kNoDispatch) {}
  bool hook_allocate(const Buffer*) override { return block_; }
  bool hook_deallocate(const Buffer*) override { return block_; }
  bool hook_program(const Program*) override { return block_; }

 private:
  bool block_;
};

class GraphTracker {
 public:
  static GraphTracker& instance();

  void push_processor(std::shared_ptr<IGraphProcessor> processor);
  void pop_processor();
  bool add_hook(std::shared_ptr<IGraphHooks> hook);  // false if this thread already has one
  const std::shared_ptr<IGraphHooks>& get_hook() const;
  const std::vector<std::shared_ptr<IGraphProcessor>>& get_processors() const;
  void clear();  // this thread's processors and hook
  void clear_hook();

  void track_allocate(const Buffer* buffer);
  void track_deallocate(const Buffer* buffer);
  void track_allocate_cb(const CoreRange& range, uint64_t addr, uint64_t size,
                         bool is_globally_allocated, const Device* device);
  void track_deallocate_cb(const Device* device);
  void track_program(Program* program, const AllocTarget* device);
  void track_function_start(std::string_view name);
  void track_function_end();

  bool hook_allocate(const Buffer* buffer);
  bool hook_deallocate(const Buffer* buffer);
  bool hook_program(const Program* program);
};

}  // namespace ttsim

#endif  // TTMEM_SIM_GRAPH_TRACKER_H_
