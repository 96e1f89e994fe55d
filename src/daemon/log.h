// log.h — daemon logging to stderr, one line per event, with a UTC timestamp and a level.
#ifndef TTMEM_DAEMON_LOG_H_
#define TTMEM_DAEMON_LOG_H_

#include <cstdio>
#include <ctime>
#include <string>

#include <fmt/format.h>

namespace ttmem::daemon {

// Where log lines go: stderr, or the file of --log (reopened on SIGHUP for log rotation). Only
// the event-loop thread logs.
inline FILE*& LogFile() {
  static FILE* f = stderr;
  return f;
}

// Opens (append) `path` and makes it the log. On failure keeps the old one and sets *error.
[[nodiscard]] inline bool OpenLog(const std::string& path, std::string* error) {
  FILE* f = std::fopen(path.c_str(), "ae");
  if (f == nullptr) {
    *error = "cannot open log file " + path;
    return false;
  }
  std::setvbuf(f, nullptr, _IOLBF, 0);
  if (LogFile() != stderr) std::fclose(LogFile());
  LogFile() = f;
  return true;
}

inline void LogLine(const char* level, const std::string& msg) {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t;
  gmtime_r(&ts.tv_sec, &t);
  char when[32];
  std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &t);
  std::fprintf(LogFile(), "%s.%03ldZ ttmemd %s %s\n", when, ts.tv_nsec / 1000000, level,
               msg.c_str());
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
