#include "sim/observer.h"

#include <shared_mutex>
#include <vector>

namespace ttsim {
namespace {

std::shared_mutex g_mu;  // guards g_observers
std::vector<std::shared_ptr<AllocationObserver>> g_observers;

}  // namespace

void AllocationObservers::Add(std::shared_ptr<AllocationObserver> observer) {
  std::unique_lock lock(g_mu);
  g_observers.push_back(std::move(observer));
}

void AllocationObservers::Clear() {
  std::unique_lock lock(g_mu);
  g_observers.clear();
}

void AllocationObservers::ForEach(const std::function<void(AllocationObserver&)>& fn) {
  std::shared_lock lock(g_mu);
  for (auto& o : g_observers) fn(*o);
}

}  // namespace ttsim
