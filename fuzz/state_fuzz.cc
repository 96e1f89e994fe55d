// Fuzzes the state table a client hands back: arbitrary contents must be validated slot by slot,
// restored or discarded, never trusted.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "daemon/state_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1 << 20)) return 0;
  int fd = ::memfd_create("fuzz-state", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return 0;
  size_t len = size < 64 ? 64 : size;
  if (::ftruncate(fd, static_cast<off_t>(len)) != 0 || (size > 0 && ::write(fd, data, size) < 0) ||
      ::fcntl(fd, F_ADD_SEALS, (size > 0 && (data[0] & 1)) ? 0 : F_SEAL_SHRINK) != 0) {
    ::close(fd);
    return 0;
  }
  // The pid the daemon expects; inputs that start like a real header get the matching one.
  int32_t pid = 0;
  if (size >= 12) std::memcpy(&pid, data + 8, 4);
  std::string error;
  auto state = ttmem::daemon::StateFile::Open(pid, ttmem::base::UniqueFd(fd), &error);
  if (!state) return 0;
  uint64_t live = 0;
  std::vector<uint32_t> slots;
  state->ForEach([&](uint32_t slot, uint32_t device, uint64_t, const ttmem::ledger::LiveBuffer& b) {
    if (device >= 1024 || b.type >= ttmem::proto::kNumMemTypes) std::abort();
    ++live;
    return (slot & 1) == 0;  // refuse some, as duplicates would be
  });
  (void)live;
  for (uint64_t i = 0; i < 2000; ++i)
    slots.push_back(state->Put(ttmem::daemon::StateFile::kNoSlot, 1, i,
                               ttmem::ledger::LiveBuffer{0, i, 0, 0, false}));
  for (size_t i = 0; i < slots.size(); i += 2) state->Release(slots[i]);
  uint64_t before = state->live();
  state->Release(ttmem::daemon::StateFile::kNoSlot);  // out of range: ignored
  if (state->live() != before) std::abort();
  return 0;
}
