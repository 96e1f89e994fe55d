#include "ttmem_tracking.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "ttmem/ttmem.h"

namespace ttmem::integration {
namespace {

std::mutex g_mu;  // guards the two maps: what was reported per (device, program)
std::map<std::pair<uint32_t, uint64_t>, std::vector<uint32_t>> g_cbs;
std::map<std::pair<uint32_t, uint64_t>, std::vector<uint32_t>> g_kernels;

// Frees every id reported for (device, program) in `reported` (the CBs or the kernels).
void ReleaseReported(std::map<std::pair<uint32_t, uint64_t>, std::vector<uint32_t>>& reported,
                     uint32_t device, uint64_t program_id, uint64_t (*id_of)(uint64_t, uint32_t)) {
  std::vector<uint32_t> indices;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = reported.find({device, program_id});
    if (it == reported.end()) return;
    indices = std::move(it->second);
    reported.erase(it);
  }
  for (uint32_t i : indices) ttmem_free(device, id_of(program_id, i));
}

}  // namespace

bool SkipForTesting(const char* path) {
  static const std::string skip = [] {
    const char* v = std::getenv("TTMEM_INTEGRATION_SKIP_FOR_TESTING");
    return std::string(",") + (v != nullptr ? v : "") + ",";
  }();
  return skip.find(std::string(",") + path + ",") != std::string::npos;
}

uint64_t CircularBufferId(uint64_t program_id, uint32_t cb_index) {
  return (1ull << 63) | ((program_id & ((1ull << 46) - 1)) << 16) | (cb_index & 0xffffu);
}

uint64_t KernelId(uint64_t program_id, uint32_t kernel_index) {
  return (1ull << 62) | ((program_id & ((1ull << 46) - 1)) << 16) | (kernel_index & 0xffffu);
}

void BufferAllocated(const BufferEvent& e) {
  if (e.mesh_backing || !ttmem_enabled()) return;
  if (e.preallocated && SkipForTesting("preallocated")) return;
  ttmem_alloc_ex(e.device, static_cast<ttmem_mem_type>(e.type), e.buffer_id, e.address, e.size,
                 e.hooked ? TTMEM_ALLOC_HOOKED : 0u);
}

void BufferDeallocated(const BufferEvent& e) {
  if (e.mesh_backing || !ttmem_enabled()) return;
  if (e.preallocated && SkipForTesting("preallocated")) return;
  ttmem_free(e.device, e.buffer_id);
}

void CircularBufferAllocated(const CircularBufferEvent& e) {
  // A globally allocated CB lives in an L1 buffer that is already counted as L1.
  if (e.globally_allocated || !ttmem_enabled() || SkipForTesting("cb")) return;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    g_cbs[{e.device, e.program_id}].push_back(e.cb_index);
  }
  ttmem_alloc_ex(e.device, TTMEM_CB, CircularBufferId(e.program_id, e.cb_index), e.address,
                 e.size_per_core * e.num_cores, e.hooked ? TTMEM_ALLOC_HOOKED : 0u);
}

void ProgramCircularBuffersReleased(uint32_t device, uint64_t program_id) {
  ReleaseReported(g_cbs, device, program_id, CircularBufferId);
}

void KernelLoaded(const KernelEvent& e) {
  if (!ttmem_enabled() || SkipForTesting("kernel")) return;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    g_kernels[{e.device, e.program_id}].push_back(e.kernel_index);
  }
  ttmem_alloc_ex(e.device, TTMEM_KERNEL, KernelId(e.program_id, e.kernel_index), 0,
                 e.binary_size * e.num_cores, e.hooked ? TTMEM_ALLOC_HOOKED : 0u);
}

void ProgramKernelsUnloaded(uint32_t device, uint64_t program_id) {
  ReleaseReported(g_kernels, device, program_id, KernelId);
}

}  // namespace ttmem::integration
