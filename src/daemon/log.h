// log.h — daemon logging to stderr, one line per event, with a UTC timestamp and a level.
#ifndef TTMEM_DAEMON_LOG_H_
#define TTMEM_DAEMON_LOG_H_

#include <cstdio>
#include <ctime>
#include <string>

#include <fmt/format.h>

namespace ttmem::daemon {

inline void LogLine(const char* level, const std::string& msg) {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t;
  gmtime_r(&ts.tv_sec, &t);
  char when[32];
  std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &t);
  std::fprintf(stderr, "%s.%03ldZ ttmemd %s %s\n", when, ts.tv_nsec / 1000000, level, msg.c_str());
}

template <typename... Args>
void LogInfo(fmt::format_string<Args...> f, Args&&... args) {
  LogLine("INFO", fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void LogWarn(fmt::format_string<Args...> f, Args&&... args) {
  LogLine("WARN", fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void LogError(fmt::format_string<Args...> f, Args&&... args) {
  LogLine("ERROR", fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace ttmem::daemon

#endif  // TTMEM_DAEMON_LOG_H_
