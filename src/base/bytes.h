// bytes.h — byte counts for people: binary units, one decimal (0 -> "0 B", 1536 -> "1.5 KiB"),
// and read back from them ("900K", "1.5 GiB"). Header-only; shared by the CLI and the simulator.
#ifndef TTMEM_BASE_BYTES_H_
#define TTMEM_BASE_BYTES_H_

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

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

// "4096", "900K", "900KiB", "1.5G", "2 MiB", "64kb": a number (a fraction allowed with a unit)
// and an optional binary unit (B, K, M, G, T; "i" and "B" after it optional, any case). nullopt
// for anything else, or for more than 2^62 bytes.
inline std::optional<uint64_t> ParseBytes(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
  if (i == 0 || i > 24 || s.substr(0, i).find_first_of("0123456789") == std::string_view::npos ||
      s.substr(0, i).find('.') != s.substr(0, i).rfind('.'))
    return std::nullopt;
  const double number = std::stod(std::string(s.substr(0, i)));
  std::string unit;
  for (char c : s.substr(i))
    if (c != ' ') unit += static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
  static const char* kUnits = "BKMGT";
  int power = 0;
  if (!unit.empty()) {
    const char* at = std::char_traits<char>::find(kUnits, 5, unit[0]);
    if (at == nullptr) return std::nullopt;
    power = static_cast<int>(at - kUnits);
    std::string_view rest = std::string_view(unit).substr(1);
    if (power == 0 && !rest.empty()) return std::nullopt;
    if (!rest.empty() && rest.front() == 'I') rest.remove_prefix(1);
    if (rest != "" && rest != "B") return std::nullopt;
  }
  if (power == 0 && number != std::floor(number)) return std::nullopt;
  const double bytes = std::ceil(number * std::pow(1024.0, power));
  if (!(bytes >= 0) || bytes > 4.6e18) return std::nullopt;
  return static_cast<uint64_t>(bytes);
}

}  // namespace ttmem::base

#endif  // TTMEM_BASE_BYTES_H_
