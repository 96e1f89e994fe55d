// ttmem-sim — a simulated tt-metal runtime that reports to ttmemd through libttmem and the
// tracking adapter. Usually started by `ttmem sim NAME ...`, which enables tracking.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "sim/arch.h"
#include "sim/scenarios.h"
#include "sim/shm_publisher.h"
#include "sim/system.h"
#include "ttmem/ttmem.h"

namespace ttsim {
std::atomic<bool> g_stop{false};
}

namespace {
void OnSignal(int) {
  ttsim::g_stop = true;
}
}  // namespace

// The checks CLI11 cannot make: the mesh shape, option combinations, the scenario's name. Says
// what is wrong (stderr) and returns false.
bool CheckOptions(const std::string& mesh, ttsim::ScenarioOptions* opts) {
  ttsim::ScenarioOptions& o = *opts;
  unsigned rows = 0, cols = 0;
  char extra;
  if (std::sscanf(mesh.c_str(), "%ux%u%c", &rows, &cols, &extra) != 2 || rows == 0 || cols == 0 ||
      rows * cols > 64) {
    std::fprintf(stderr, "ttmem sim: --mesh '%s' is not RxC with 1..64 devices, e.g. 2x4\n",
                 mesh.c_str());
    return false;
  }
  if (o.checkpoints && o.processes > 1) {
    std::fprintf(stderr, "ttmem sim: --checkpoints needs --processes 1\n");
    return false;
  }
  bool known = false;
  for (const auto& s : ttsim::Scenarios()) known = known || o.name == s.name;
  if (!known) {
    std::string names;
    for (const auto& s : ttsim::Scenarios())
      names += (names.empty() ? "" : ", ") + std::string(s.name);
    std::fprintf(stderr, "ttmem sim: unknown scenario '%s' (one of: %s)\n", o.name.c_str(),
                 names.c_str());
    return false;
  }
  o.rows = rows;
  o.cols = cols;
  return true;
}

// The options given as text, turned into ScenarioOptions after parsing.
struct TextOptions {
  std::string arch = "wormhole_b0", mesh = "2x4", tracking = "all-threads";
  std::string publish_shm;
  std::string system;  // "": chips announce no topology
};

void AddOptions(CLI::App& app, ttsim::ScenarioOptions& o, TextOptions& a) {
  app.add_option("scenario", o.name, "scenario to run")->required();
  app.add_option("--arch", a.arch, "device architecture")
      ->check(CLI::IsMember(ttsim::ArchNames()))
      ->capture_default_str();
  auto* mesh =
      app.add_option("--mesh", a.mesh, "mesh shape RxC (mesh_allocation; churn: device count)")
          ->capture_default_str();
  std::string systems;
  for (const std::string& n : ttsim::SystemNames())
    systems += (systems.empty() ? "" : ", ") + n + " (" + ttsim::FindSystem(n)->help + ")";
  app.add_option("--system,--cluster,--topology", a.system,
                 "the machine simulated, its chips announced with their PCIe device and board: " +
                     systems + "; sets the mesh and the arch")
      ->check(CLI::Validator(
          [](std::string& v) {
            return ttsim::FindSystem(v) != nullptr
                       ? std::string()
                       : "unknown system '" + v + "' (n150, n300 or t3000)";
          },
          "SYSTEM"))
      ->excludes(mesh);
  app.add_option("--hold", o.holds,
                 "hold: DEV:TYPE:BYTES held on a chip (e.g. 4:l1:48M; TYPE dram, l1, l1_small, "
                 "trace); repeatable");
  app.add_option("--fragment", o.fragments,
                 "hold: fill a chip's TYPE with buffers of BYTES and free every other one "
                 "(DEV:TYPE:BYTES); repeatable");
  app.add_option("--hold-ms", o.hold_ms, "keep the allocations live this long at the peak")
      ->check(CLI::Range(0u, 86400000u));
  app.add_option("--repeat", o.repeat, "run the scenario this many times")
      ->check(CLI::Range(1u, 1000000u));
  app.add_option("--seconds", o.seconds, "churn: run time; 0 runs until interrupted")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  app.add_option("--threads", o.threads, "churn: allocating threads")->check(CLI::Range(1u, 64u));
  app.add_option("--processes", o.processes, "churn: processes")->check(CLI::Range(1u, 64u));
  app.add_option("--rate", o.rate, "churn: operations per second per thread; 0: as fast as it can")
      ->check(CLI::Range(0u, 10000000u));
  app.add_option("--scale", o.scale, "multiply buffer sizes")->check(CLI::Range(1e-6, 1e9));
  app.add_option("--seed", o.seed, "random seed");
  app.add_option("--programs", o.programs, "program_cache: programs in the cache")
      ->check(CLI::Range(1u, 100000u))
      ->capture_default_str();
  app.add_option("--failure", o.failure,
                 "oom: l1 (an L1 buffer that does not fit), cb (circular buffers that clash with "
                 "L1 buffers) or uncaught (l1, caught by nobody: std::terminate)")
      ->check(CLI::IsMember({"l1", "cb", "uncaught"}))
      ->capture_default_str();
  app.add_option("--publish-shm", a.publish_shm,
                 "also publish per-chip totals in tt-metal's shared-memory layout in DIR, as "
                 "stock tt-metal does in /dev/shm (docs/tt-metal.md)");
  app.add_flag("--checkpoints", o.checkpoints,
               "print the simulator's own figures as a JSON line at each checkpoint and wait for "
               "a line on stdin (for tests)");
  app.add_option("--tracking", a.tracking,
                 "all-threads (ttmem's processor on every thread, back after "
                 "GraphTracker::clear()) or calling-thread (the proof of concept: pushed on the "
                 "main thread only, misses the others)")
      ->check(CLI::IsMember({"all-threads", "calling-thread"}))
      ->capture_default_str();
}

int main(int argc, char** argv) {
  ttsim::ScenarioOptions o;
  TextOptions a;
  std::string scenarios;
  for (const auto& s : ttsim::Scenarios())
    scenarios += std::string("\n  ") + s.name + ": " + s.help;
  CLI::App app{"ttmem-sim: a simulated tt-metal runtime. Scenarios:" + scenarios};
  AddOptions(app, o, a);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "ttmem sim: %s (run 'ttmem sim --help' for the usage)\n", e.what());
    return 2;
  }
  if (!CheckOptions(a.mesh, &o)) return 2;
  o.arch = ttsim::FindArch(a.arch);
  if (const ttsim::SystemSpec* s = ttsim::FindSystem(a.system)) {
    if (app.count("--arch") != 0 && a.arch != s->arch) {
      std::fprintf(stderr, "ttmem sim: --system %s is %s chips; drop --arch %s\n", s->name.c_str(),
                   s->arch.c_str(), a.arch.c_str());
      return 2;
    }
    ttsim::UseSystem(s);
    o.rows = s->rows;
    o.cols = s->cols;
    o.arch = ttsim::FindArch(s->arch);
  }
  o.tracking = a.tracking == "all-threads" ? ttsim::TrackingMode::kAllThreads
                                           : ttsim::TrackingMode::kCallingThread;
  if (!ttmem_enabled())
    std::fprintf(stderr,
                 "ttmem sim: tracking is off (TT_ALLOC_TRACKING_ENABLED is not 1): "
                 "running without reporting\n");
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  ttsim::InstallTracking(o.tracking);
  if (!a.publish_shm.empty()) ttsim::InstallShmPublisher(a.publish_shm);
  return ttsim::RunScenario(o);
}
