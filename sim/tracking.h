// tracking.h — connects the simulator to libttmem through the integration adapter.
#ifndef TTMEM_SIM_TRACKING_H_
#define TTMEM_SIM_TRACKING_H_

namespace ttsim {

enum class TrackingMode {
  kObserver,        // the fix: a process-wide observer on every allocation path
  kGraphProcessor,  // the proof of concept: a background GraphTracker processor pushed on the
                    // calling thread; misses other threads, pre-allocated path kept (seeds' patch)
};

// Installs tracking for this process (devices are announced when opened). Call once, before
// opening devices, on the thread that runs the scenario.
void InstallTracking(TrackingMode mode);

}  // namespace ttsim

#endif  // TTMEM_SIM_TRACKING_H_
