// program.h — a Program: circular buffers on core ranges and kernels (binaries per core).
//
// Like tt-metal, every program lays its CBs out from the same L1 base (a CB allocator of its
// own, ProgramImpl::allocate_circular_buffers), and only the dispatched program's CBs and kernel
// binaries are resident on a device: Launch (EnqueueProgram / ttnn's launch) makes this program
// the resident one, replacing the previous one; a program cache can hold many. A globally
// allocated CB sits in an L1 buffer and takes no CB space of its own. Programs are freed by
// destruction (~ProgramImpl: deallocate_circular_buffers).
#ifndef TTMEM_SIM_PROGRAM_H_
#define TTMEM_SIM_PROGRAM_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <vector>

#include "sim/buffer.h"
#include "sim/device.h"

namespace ttsim {

struct CircularBufferConfig {
  uint64_t size = 0;                           // bytes per core
  std::shared_ptr<Buffer> globally_allocated;  // set: the CB lives in this L1 buffer
};

struct PlacedCb {
  CoreRange range;
  uint64_t address = 0;  // program-local layout from the L1 base; the buffer's for a global CB
  uint64_t size = 0;     // per core
  bool global = false;
};

class Program {
 public:
  Program();
  ~Program();
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  uint32_t AddCircularBuffer(const CoreRange& range, CircularBufferConfig config);
  uint32_t AddKernel(const CoreRange& range, uint64_t binary_size);

  // Dispatches on `target` (a Device, or every device of a MeshDevice): asks the hook (a
  // NO_DISPATCH capture blocks it), makes it resident on each device unless blocked
  // (OutOfMemory if its CBs would clash with L1 buffers or its binaries overflow the
  // kernel-config region), tells the processors (track_program), and on a device's first launch
  // reports the CB layout (track_allocate_cb).
  void Launch(AllocTarget& target);

  uint64_t id() const { return id_; }
  // The CBs as laid out (after the first Launch, or Layout()).
  const std::vector<PlacedCb>& cbs() const { return placed_; }
  // The footprint on one device while resident: CB bytes over all cores, kernel bytes.
  Footprint footprint() const { return footprint_; }
  // Expires when the program is destroyed (what a weak_ptr to tt-metal's ProgramImpl tells).
  std::weak_ptr<const void> alive() const { return alive_; }

 private:
  struct Cb {
    CoreRange range;
    CircularBufferConfig config;
  };
  struct Kernel {
    CoreRange range;
    uint64_t binary_size;
  };
  void LayOut(const ArchSpec& arch);

  static std::atomic<uint64_t> next_id_;
  uint64_t id_;
  std::vector<Cb> cbs_;
  std::vector<Kernel> kernels_;
  bool laid_out_ = false;
  std::vector<PlacedCb> placed_;
  Footprint footprint_;
  uint64_t cb_top_ = 0;              // highest CB end on any core
  uint64_t kernel_max_per_core = 0;  // largest binary total on one core
  std::set<Device*> devices_;        // where it was dispatched
  std::shared_ptr<const void> alive_;
};

}  // namespace ttsim

#endif  // TTMEM_SIM_PROGRAM_H_
