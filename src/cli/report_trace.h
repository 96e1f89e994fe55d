// report_trace.h — a recording as Chrome trace-event JSON (`ttmem report FILE --trace OUT.json`),
// which ui.perfetto.dev and chrome://tracing open: counter tracks per device and memory type and
// per process, op slices and phase marks. Written as the report's replay goes (streamed: memory
// stays flat whatever the recording's size). docs/recording.md, "Traces".
#ifndef TTMEM_CLI_REPORT_TRACE_H_
#define TTMEM_CLI_REPORT_TRACE_H_

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>

namespace ttmem::cli {

class TraceWriter {
 public:
  TraceWriter() = default;
  // A trace that was opened but not finished (the report failed on the way) is closed and
  // removed: no truncated trace is left behind.
  ~TraceWriter();
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  // Opens `path` for writing; false with *error naming the file and the reason.
  [[nodiscard]] bool Open(const std::string& path, int64_t t0_ns, std::string* error);
  // A device's figure for a type, and the process's share, changed at `time_ns`.
  void Counter(int64_t time_ns, uint32_t device, int type, uint64_t device_bytes, int64_t pid,
               uint64_t process_bytes);
  // An allocation made in `op` ("" for none): consecutive ones of a process in the same op make
  // one slice.
  void Allocation(int64_t time_ns, int64_t pid, const std::string& op, uint64_t size);
  void Mark(int64_t time_ns, int64_t pid, const std::string& name);
  // Names the tracks (devices and processes), closes the slices, ends the document. False when
  // anything could not be written.
  [[nodiscard]] bool Finish(const std::map<uint32_t, std::string>& device_arch,
                            const std::map<int64_t, std::string>& process_name, std::string* error);

  // The pid of a device's counter tracks (above every real pid: Linux's pid_max is 2^22).
  static int64_t DevicePid(uint32_t device) { return (int64_t{1} << 30) + device; }

 private:
  struct Run {
    std::string op;
    int64_t first_ns = 0, last_ns = 0;
    uint64_t allocs = 0, bytes = 0;
  };
  void Event(const std::string& json);
  void CloseRun(int64_t pid, const Run& r);
  double Us(int64_t ns) const { return static_cast<double>(ns - t0_ns_) / 1000.0; }

  struct Closer {
    void operator()(FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<FILE, Closer> f_;
  std::string path_;
  int64_t t0_ns_ = 0;
  bool first_ = true;
  bool failed_ = false;
  std::map<int64_t, Run> runs_;  // per process, the op run in progress
  std::set<uint32_t> devices_;
  std::set<int64_t> pids_;
};

}  // namespace ttmem::cli

#endif  // TTMEM_CLI_REPORT_TRACE_H_
