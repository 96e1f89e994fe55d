// scenarios.h — the workloads `ttmem sim NAME` runs.
#ifndef TTMEM_SIM_SCENARIOS_H_
#define TTMEM_SIM_SCENARIOS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "sim/arch.h"
#include "sim/tracking.h"

namespace ttsim {

struct ScenarioOptions {
  std::string name;
  const ArchSpec* arch = nullptr;
  uint32_t rows = 2, cols = 4;  // --mesh RxC
  uint32_t hold_ms = 0;         // keep allocations live this long at the peak
  uint32_t repeat = 1;
  double seconds = 10;     // churn: run time (0: until SIGINT/SIGTERM)
  uint32_t threads = 2;    // churn: allocating threads
  uint32_t processes = 1;  // churn: processes (forked)
  uint32_t rate = 0;       // churn: operations per second per thread, 0: unlimited
  double scale = 1;        // multiplies buffer sizes
  uint64_t seed = 1;
  bool checkpoints = false;    // print a JSON line per checkpoint; wait for a line on stdin
  uint32_t programs = 100;     // program_cache: programs kept in the cache
  std::string failure = "l1";  // oom: l1 (an L1 buffer), cb (a CB/L1 clash), uncaught (l1, and
                               // nothing catches it: std::terminate)
  TrackingMode tracking = TrackingMode::kAllThreads;
  std::vector<std::string> holds;      // hold: DEV:TYPE:BYTES held
  std::vector<std::string> fragments;  // hold: DEV:TYPE:BYTES filled, every other one freed
};

struct Scenario {
  const char* name;
  const char* help;
};
const std::vector<Scenario>& Scenarios();

// Runs the scenario. Returns the exit code: 0, or 2 for out of memory / bad parameters (with a
// one-line message on stderr). Everything allocated is released before returning.
int RunScenario(const ScenarioOptions& o);

}  // namespace ttsim

#endif  // TTMEM_SIM_SCENARIOS_H_
