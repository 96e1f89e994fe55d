#include "ttmem_tracking.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "base/thread_annotations.h"
#include "ttmem/ttmem.h"

namespace ttmem::integration {
namespace {

constexpr uint32_t kMaxChip = 1u << 16;  // chip ids above are not tracked for residency

unsigned ParseBroken() {
  const char* v = std::getenv("TTMEM_INTEGRATION_BREAK");
  if (v == nullptr) return 0;
  static const std::pair<const char*, unsigned> kNames[] = {{"mesh", kBreakMesh},
                                                            {"hook", kBreakHook},
                                                            {"view", kBreakView},
                                                            {"residency", kBreakResidency},
                                                            {"threads", kBreakThreads},
                                                            {"clear", kBreakClear},
                                                            {"shm-disabled", kBreakShmDisabled},
                                                            {"cb-union", kBreakCbUnion}};
  unsigned mask = 0;
  for (const auto& [name, bit] : kNames) {
    const size_t n = std::strlen(name);
    for (const char* p = v; (p = std::strstr(p, name)) != nullptr; p += n)
      if ((p == v || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) mask |= bit;
  }
  return mask;
}

ttmem::base::Mutex g_mu;                                       // guards g_resident and g_seen
std::vector<ProgramLayout> g_resident TTMEM_GUARDED_BY(g_mu);  // per chip
std::vector<bool> g_seen TTMEM_GUARDED_BY(g_mu);

// Replaces what `now` says is resident with `next`, one free and one allocation per type that
// changed.
void Replace(uint32_t chip, ProgramLayout& now, const ProgramLayout& next) {
  if (now.cb_bytes != next.cb_bytes) {
    const uint64_t id = ResidentId(true);
    if (now.cb_bytes != 0) ttmem_free(chip, id);
    if (next.cb_bytes != 0) ttmem_alloc_ex(chip, TTMEM_CB, id, 0, next.cb_bytes, 0);
  }
  if (now.kernel_bytes != next.kernel_bytes) {
    const uint64_t id = ResidentId(false);
    if (now.kernel_bytes != 0) ttmem_free(chip, id);
    if (next.kernel_bytes != 0) ttmem_alloc_ex(chip, TTMEM_KERNEL, id, 0, next.kernel_bytes, 0);
  }
  now = next;
}

constexpr int kMaxDepth = 32;
constexpr size_t kMaxName = 63;
thread_local char t_ops[kMaxDepth][kMaxName + 1];
thread_local int t_depth = 0;  // may exceed kMaxDepth: deeper levels are counted, not kept

std::atomic<ThreadInstaller> g_installer{nullptr};

}  // namespace

bool Broken(BrokenRule rule) {
  // A function-local static: threads start before static initialisers run (libttmem's connector
  // starts at load, through thread_start.cc's wrapper, which asks this).
  static const unsigned mask = ParseBroken();
  return (mask & rule) != 0;
}

bool IsCaptureEstimate(bool hook_installed, uint64_t address) {
  if (Broken(kBreakHook)) return hook_installed;
  return hook_installed && address == 0;
}

uint64_t ResidentId(bool cb) {
  return (1ull << 61) | (cb ? 1u : 0u);
}

void ProgramDispatched(Chips chips, const ProgramLayout& layout) {
  if (!ttmem_enabled()) return;
  ttmem::base::MutexLock lock(g_mu);
  for (size_t i = 0; i < chips.count; ++i) {
    const uint32_t chip = chips.ids[i];
    if (chip >= kMaxChip) continue;
    if (chip >= g_resident.size()) g_resident.resize(chip + 1);
    ProgramLayout& now = g_resident[chip];
    if (now == layout) continue;  // the same layout again: a comparison, no event
    Replace(chip, now, layout);
  }
}

void ResidentReleased(Chips chips) {
  if (!ttmem_enabled()) return;
  ttmem::base::MutexLock lock(g_mu);
  for (size_t i = 0; i < chips.count; ++i) {
    const uint32_t chip = chips.ids[i];
    if (chip >= g_resident.size()) continue;
    Replace(chip, g_resident[chip], ProgramLayout{});
  }
}

namespace {

bool Intersects(const CoreRect& a, const CoreRect& b) {
  return a.x0 <= b.x1 && b.x0 <= a.x1 && a.y0 <= b.y1 && b.y0 <= a.y1;
}

uint64_t Cores(const CoreRect& r) {
  return uint64_t{r.x1 - r.x0 + 1} * (r.y1 - r.y0 + 1);
}

// ProgramImpl::CircularBufferAllocator: a core range and its regions [start, end), ascending.
struct CbAllocator {
  CoreRect range;
  std::vector<std::pair<uint64_t, uint64_t>> regions;
  uint64_t End() const { return regions.empty() ? 0 : regions.back().second; }
  void Mark(uint64_t address, uint64_t size, uint64_t base) {
    if (regions.empty()) regions.emplace_back(base, base);
    auto& last = regions.back();
    if (address < last.second) return;  // tt-metal throws here; nothing it lays out gets here
    if (address == last.second) {
      last.second += size;
    } else {
      regions.emplace_back(address, address + size);
    }
  }
};

bool Valid(const CoreRect& r) {
  return r.x0 <= r.x1 && r.y0 <= r.y1 && r.x1 < 256 && r.y1 < 256;
}

}  // namespace

uint64_t CbReservedBytes(const ProgramCb* cbs, size_t n, uint64_t base, uint64_t alignment,
                         uint64_t* addresses) {
  std::vector<CbAllocator> allocators;
  for (size_t i = 0; i < n; ++i)
    for (size_t k = 0; k < cbs[i].range_count; ++k) {
      const CoreRect& r = cbs[i].ranges[k];
      if (!Valid(r)) continue;
      bool known = false;
      for (const CbAllocator& a : allocators) known = known || a.range == r;
      if (!known) allocators.push_back({r, {}});
    }
  for (size_t i = 0; i < n; ++i) {
    const ProgramCb& cb = cbs[i];
    if (cb.global) continue;
    uint64_t address = base;
    for (size_t k = 0; k < cb.range_count; ++k)
      for (const CbAllocator& a : allocators)
        if (a.range == cb.ranges[k]) {
          address = std::max(address, a.End());
          break;
        }
    if (alignment > 1) address = (address + alignment - 1) / alignment * alignment;
    for (size_t k = 0; k < cb.range_count; ++k)
      for (CbAllocator& a : allocators) {
        if (!Intersects(a.range, cb.ranges[k])) continue;
        if (!(a.range == cb.ranges[k]) && address < a.End()) continue;
        a.Mark(address, cb.size, base);
      }
    if (addresses != nullptr) addresses[i] = address;
  }
  // Per core, the regions of every allocator whose range holds it, merged.
  std::map<std::pair<uint32_t, uint32_t>, std::vector<std::pair<uint64_t, uint64_t>>> cores;
  for (const CbAllocator& a : allocators)
    for (uint32_t y = a.range.y0; y <= a.range.y1; ++y)
      for (uint32_t x = a.range.x0; x <= a.range.x1; ++x) {
        auto& regions = cores[{x, y}];
        regions.insert(regions.end(), a.regions.begin(), a.regions.end());
      }
  uint64_t total = 0;
  for (auto& [core, regions] : cores) {
    if (regions.empty()) continue;
    std::sort(regions.begin(), regions.end());
    uint64_t start = regions.front().first, end = regions.front().second;
    for (const auto& [s, e] : regions) {
      if (s > end) {
        total += end - start;
        start = s;
      }
      end = std::max(end, e);
    }
    total += end - start;
  }
  return total;
}

uint64_t CbReportedBytes(const ProgramCb* cbs, size_t n, uint64_t base, uint64_t alignment) {
  if (!Broken(kBreakCbUnion)) return CbReservedBytes(cbs, n, base, alignment);
  uint64_t total = 0;
  for (size_t i = 0; i < n; ++i)
    if (!cbs[i].global)
      for (size_t k = 0; k < cbs[i].range_count; ++k)
        if (Valid(cbs[i].ranges[k])) total += cbs[i].size * Cores(cbs[i].ranges[k]);
  return total;
}

bool FirstSight(uint32_t chip) {
  if (chip >= kMaxChip) return false;
  ttmem::base::MutexLock lock(g_mu);
  if (chip >= g_seen.size()) g_seen.resize(chip + 1);
  if (g_seen[chip]) return false;
  g_seen[chip] = true;
  return true;
}

void FunctionStarted(const char* name, size_t len) {
  char cut[kMaxName + 1];
  size_t n = std::min(len, kMaxName);
  // Never inside a UTF-8 character: back off over continuation bytes to its start.
  if (n < len)
    for (int k = 0; k < 3 && n > 0 && (static_cast<unsigned char>(name[n]) & 0xc0) == 0x80; ++k)
      --n;
  std::memcpy(cut, name, n);
  cut[n] = '\0';
  if (t_depth < kMaxDepth) std::memcpy(t_ops[t_depth], cut, n + 1);
  ++t_depth;
  ttmem_scope_push(cut);  // the allocations inside carry it as their op (counted even if refused)
}

void FunctionEnded() {
  if (t_depth == 0) return;  // unbalanced: nothing of ours to leave
  --t_depth;
  ttmem_scope_pop();
}

const char* CurrentOp() {
  if (t_depth == 0) return "";
  return t_ops[std::min(t_depth, kMaxDepth) - 1];
}

int ErrorCaught(const char* what) {
  return ttmem_oom_snapshot(what);
}

namespace {
std::terminate_handler g_previous_terminate = nullptr;

[[noreturn]] void TerminateWithSnapshot() {
  if (std::exception_ptr e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      ErrorCaught(ex.what());
    } catch (...) {
    }
  }
  if (g_previous_terminate != nullptr) g_previous_terminate();
  std::abort();
}
}  // namespace

void InstallTerminateSnapshot() {
  static std::once_flag once;
  std::call_once(once, [] { g_previous_terminate = std::set_terminate(&TerminateWithSnapshot); });
}

ThreadInstaller SetThreadInstaller(ThreadInstaller install) {
  return g_installer.exchange(install);
}

void RunThreadInstaller() {
  if (ThreadInstaller f = g_installer.load(std::memory_order_acquire)) f();
}

}  // namespace ttmem::integration
