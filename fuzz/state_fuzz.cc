// Fuzzes the state table a client hands back: arbitrary contents must be validated slot by slot,
// restored or discarded, never trusted.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

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
  state->ForEach([&](uint32_t device, uint64_t, const ttmem::ledger::LiveBuffer& b) {
    if (device >= 1024 || b.type >= ttmem::ledger::kNumTypes) std::abort();
    ++live;
  });
  if (live != state->live()) std::abort();
  for (uint64_t i = 0; i < 2000; ++i) state->Put(1, i, ttmem::ledger::LiveBuffer{0, i, 0, false});
  for (uint64_t i = 0; i < 2000; i += 2) state->Erase(1, i);
  return 0;
}
