// clock.h — the project's clocks, in one place. C++17 (the client library uses it).
//
//   MonotonicNs(): CLOCK_MONOTONIC, for intervals and deadlines (never jumps).
//   RealtimeNs():  CLOCK_REALTIME in ns since the epoch: the event stream's and recordings' time.
//   UnixMs():      CLOCK_REALTIME in ms since the epoch: sample and start times in documents.
#ifndef TTMEM_BASE_CLOCK_H_
#define TTMEM_BASE_CLOCK_H_

#include <time.h>

#include <cstdint>

namespace ttmem::base {

inline uint64_t ClockNs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}
inline uint64_t MonotonicNs() {
  return ClockNs(CLOCK_MONOTONIC);
}
inline uint64_t RealtimeNs() {
  return ClockNs(CLOCK_REALTIME);
}
inline uint64_t UnixMs() {
  return RealtimeNs() / 1000000ull;
}

}  // namespace ttmem::base

#endif  // TTMEM_BASE_CLOCK_H_
