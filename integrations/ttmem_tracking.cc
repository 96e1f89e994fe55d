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
                                                            {"shm-disabled", kBreakShmDisabled}};
  unsigned mask = 0;
  for (const auto& [name, bit] : kNames) {
    const size_t n = std::strlen(name);
    for (const char* p = v; (p = std::strstr(p, name)) != nullptr; p += n)
      if ((p == v || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) mask |= bit;
  }
  return mask;
}

std::mutex g_mu;                        // guards g_resident and g_seen
std::vector<ProgramLayout> g_resident;  // per chip
std::vector<bool> g_seen;

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
  std::lock_guard<std::mutex> lock(g_mu);
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
  std::lock_guard<std::mutex> lock(g_mu);
  for (size_t i = 0; i < chips.count; ++i) {
    const uint32_t chip = chips.ids[i];
    if (chip >= g_resident.size()) continue;
    Replace(chip, g_resident[chip], ProgramLayout{});
  }
}

uint64_t CbUnionBytes(const CbPlacement* cbs, size_t n) {
  // Per core: the ranges of the CBs on it, merged. Cores are keyed by (x, y).
  std::map<std::pair<uint32_t, uint32_t>, std::vector<std::pair<uint64_t, uint64_t>>> cores;
  for (size_t i = 0; i < n; ++i)
    for (uint32_t y = cbs[i].y0; y <= cbs[i].y1; ++y)
      for (uint32_t x = cbs[i].x0; x <= cbs[i].x1; ++x)
        cores[{x, y}].emplace_back(cbs[i].address, cbs[i].address + cbs[i].size);
  uint64_t total = 0;
  for (auto& [core, ranges] : cores) {
    std::sort(ranges.begin(), ranges.end());
    uint64_t start = ranges.front().first, end = ranges.front().second;
    for (const auto& [s, e] : ranges) {
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

bool FirstSight(uint32_t chip) {
  if (chip >= kMaxChip) return false;
  std::lock_guard<std::mutex> lock(g_mu);
  if (chip >= g_seen.size()) g_seen.resize(chip + 1);
  if (g_seen[chip]) return false;
  g_seen[chip] = true;
  return true;
}

void FunctionStarted(const char* name, size_t len) {
  char cut[kMaxName + 1];
  const size_t n = std::min(len, kMaxName);
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
