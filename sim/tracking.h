// tracking.h — ttmem's processor for the simulator: the thin typed shell over the processor rules
// (integrations/ttmem_tracking.h) that libttmem_tt_metal.so is for real tt-metal.
#ifndef TTMEM_SIM_TRACKING_H_
#define TTMEM_SIM_TRACKING_H_

namespace ttsim {

enum class TrackingMode {
  kAllThreads,     // the processor on this thread, on every thread started after (thread start
                   // wrapped) and back after GraphTracker::clear()
  kCallingThread,  // the proof of concept: pushed on the calling thread only; misses the others
};

// Installs ttmem's processor (devices are announced on first sight). Call once, before the
// scenario, on the thread that runs it.
void InstallTracking(TrackingMode mode);

class Device;
// Announces a chip now (as its first allocation would): for scenarios that open chips and hold
// nothing on some of them (`hold`).
void AnnounceDevice(const Device& d);

}  // namespace ttsim

#endif  // TTMEM_SIM_TRACKING_H_
