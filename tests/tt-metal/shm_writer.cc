// A tt-metal process as far as its shared-memory statistics go: tt-metal's own
// SharedMemoryStatsProvider (tt_metal/impl/memory_tracking/memory_stats_shm.cpp, compiled from
// the tree TT_METAL_HOME names by tests/tt-metal/build_shm_writer.sh) driven the way a Device
// drives it. Not built by ttmem's CMake; used by RealWriter.* (tests/shm_real_writer_test.cc).
//
//   shm_writer ASIC:DEVICE[,ASIC:DEVICE...] DRAM L1 L1_SMALL TRACE CB
// opens one provider per chip, records one allocation of each of DRAM, L1, L1_SMALL and TRACE on
// each chip for this pid (record_allocation) and its CB figure through tt-metal's CB path
// (update_from_allocator, which asks the Device for its CB total), prints "ready" and then reads
// commands from stdin: "free" records the deallocations, "exit"
// destroys the providers (as a Device closes) and exits 0. A test SIGKILLs it to leave its slots.
// A figure of 0 is not recorded (all zero: the process only attaches and, at "exit", detaches).
// Built with TTMEM_SHM_WRITER_V4 against the v4 files of PR #53721, whose constructor takes the
// run-time options (per-pid tracking switched off, verbose) as arguments: the defaults, as on main.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "device_stub.hpp"
#include "impl/memory_tracking/memory_stats_shm.hpp"

int main(int argc, char** argv) {
  using tt::tt_metal::SharedMemoryStatsProvider;
  using tt::tt_metal::ShmBufferType;
  if (argc != 7) {
    std::fprintf(stderr, "usage: shm_writer ASIC:DEVICE[,...] DRAM L1 L1_SMALL TRACE CB\n");
    return 2;
  }
  std::vector<std::unique_ptr<SharedMemoryStatsProvider>> chips;
  std::vector<uint32_t> ids;
  std::stringstream list(argv[1]);
  for (std::string item; std::getline(list, item, ',');) {
    const auto colon = item.find(':');
    const uint64_t asic = std::stoull(item.substr(0, colon));
    const int device = std::stoi(item.substr(colon + 1));
#ifdef TTMEM_SHM_WRITER_V4
    chips.push_back(std::make_unique<SharedMemoryStatsProvider>(asic, device, false, false));
#else
    chips.push_back(std::make_unique<SharedMemoryStatsProvider>(asic, device));
#endif
    ids.push_back(static_cast<uint32_t>(device));
  }
  const ShmBufferType types[] = {ShmBufferType::DRAM, ShmBufferType::L1, ShmBufferType::L1_SMALL,
                                 ShmBufferType::TRACE, ShmBufferType::CB};
  uint64_t sizes[5];
  for (int t = 0; t < 5; ++t) sizes[t] = std::stoull(argv[2 + t]);
  for (size_t c = 0; c < chips.size(); ++c) {
    for (int t = 0; t < 4; ++t)
      if (sizes[t] != 0) chips[c]->record_allocation(::getpid(), sizes[t], types[t], ids[c]);
    if (sizes[4] == 0) continue;
    const tt::tt_metal::Device device(static_cast<int>(ids[c]), sizes[4]);
    chips[c]->update_from_allocator(&device, ::getpid());
  }
  std::cout << "ready" << std::endl;
  for (std::string cmd; std::getline(std::cin, cmd);) {
    if (cmd == "free") {
      for (size_t c = 0; c < chips.size(); ++c)
        for (int t = 0; t < 4; ++t)
          if (sizes[t] != 0) chips[c]->record_deallocation(::getpid(), sizes[t], types[t], ids[c]);
      std::cout << "freed" << std::endl;
    } else if (cmd == "exit") {
      chips.clear();
      return 0;
    }
  }
  return 0;
}
