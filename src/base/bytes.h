// bytes.h — byte counts for people: binary units, one decimal (0 -> "0 B", 1536 -> "1.5 KiB").
// Header-only; shared by the CLI and the simulator's error messages.
#ifndef TTMEM_BASE_BYTES_H_
#define TTMEM_BASE_BYTES_H_

#include <cstdint>
#include <cstdio>
#include <string>

namespace ttmem::base {

inline std::string FormatBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  char out[32];
  if (bytes < 1024) {
    std::snprintf(out, sizeof(out), "%llu B", static_cast<unsigned long long>(bytes));
    return out;
  }
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 6) {
    v /= 1024.0;
    ++u;
  }
  std::snprintf(out, sizeof(out), "%.1f %s", v, kUnits[u]);
  return out;
}

}  // namespace ttmem::base

#endif  // TTMEM_BASE_BYTES_H_
