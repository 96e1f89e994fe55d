// The process's shared-memory region (docs/protocol.md §1): its size from the environment
// (TTMEM_RINGS, TTMEM_RING_RECORDS), a sealed memfd mapped once at initialisation.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

#include "client/client_internal.h"
#include "protocol/shm_abi.h"

namespace ttmem::client {
namespace {

constexpr uint32_t kDefaultRings = 64;
constexpr uint32_t kDefaultRingRecords = 8192;  // 512 KiB per ring

uint32_t EnvU32(const char* name, uint32_t dflt, uint32_t lo, uint32_t hi) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return dflt;
  char* end = nullptr;
  unsigned long x = std::strtoul(v, &end, 10);
  if (*end != '\0' || x < lo || x > hi) return dflt;
  return static_cast<uint32_t>(x);
}

uint32_t RoundUpPow2(uint32_t x) {
  uint32_t p = 1;
  while (p < x) p <<= 1;
  return p;
}

}  // namespace

bool CreateRegion(uint64_t* full_wait_ns) {
  uint32_t rings = EnvU32("TTMEM_RINGS", kDefaultRings, 1, proto::kMaxRings);
  uint32_t cap = RoundUpPow2(EnvU32("TTMEM_RING_RECORDS", kDefaultRingRecords,
                                    proto::kMinRingCapacity, proto::kMaxRingCapacity));
  uint64_t size = proto::RegionSize(rings, cap);
  *full_wait_ns = uint64_t{EnvU32("TTMEM_FULL_WAIT_US", 10000, 0, 1000000)} * 1000;
  int fd = ::memfd_create("ttmem-region", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return false;
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0 ||
      ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0) {
    ::close(fd);
    return false;
  }
  void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    ::close(fd);
    return false;
  }
  auto* hdr = static_cast<proto::RegionHeader*>(base);
  proto::InitRegionHeader(hdr, rings, cap);
  g_link.region = Region{base, size, fd, rings, cap, hdr};
  return true;
}

}  // namespace ttmem::client
