// program.h — a Program: circular buffers on core ranges and kernels (binaries per core). Launch
// places the CBs with the device's circular-buffer allocator and loads the binaries, as
// EnqueueProgram does; Release gives both back. A globally allocated CB sits in an L1 buffer and
// takes no CB space of its own.
#ifndef TTMEM_SIM_PROGRAM_H_
#define TTMEM_SIM_PROGRAM_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "sim/buffer.h"
#include "sim/device.h"

namespace ttsim {

struct CircularBufferConfig {
  uint64_t size = 0;                           // bytes per core
  std::shared_ptr<Buffer> globally_allocated;  // set: the CB lives in this L1 buffer
};

class Program {
 public:
  Program();
  ~Program();
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  uint32_t AddCircularBuffer(const CoreRange& range, CircularBufferConfig config);
  uint32_t AddKernel(const CoreRange& range, uint64_t binary_size);

  // Places the CBs and loads the kernels on `device` (once per device). If a graph-capture hook
  // intercepts the program, nothing is placed (the observers hear of it, flagged hooked).
  void Launch(Device& device);
  // Gives the CBs and kernel space back on `device`.
  void Release(Device& device);

  uint64_t id() const { return id_; }

 private:
  struct Cb {
    CoreRange range;
    CircularBufferConfig config;
  };
  struct Kernel {
    CoreRange range;
    uint64_t binary_size;
  };
  struct Placed {
    bool hooked = false;
    std::vector<uint64_t> cb_addresses;  // per CB placed so far; 0 for global or hooked
    uint32_t kernels_loaded = 0;
  };
  static std::atomic<uint64_t> next_id_;
  uint64_t id_;
  std::vector<Cb> cbs_;
  std::vector<Kernel> kernels_;
  std::map<Device*, Placed> placed_;
};

}  // namespace ttsim

#endif  // TTMEM_SIM_PROGRAM_H_
