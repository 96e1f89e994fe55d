// report.h — the report of a recording as plain values (issue 27): what `ttmem report`
// computes once (report.cc) and every output reads (text, HTML, JSON, trace), with one JSON
// writer and one reader. The JSON is `ttmem report --json`'s document (docs/recording.md); a
// saved one reads back into the same Report (`--baseline` accepts it).
#ifndef TTMEM_MODEL_REPORT_H_
#define TTMEM_MODEL_REPORT_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace ttmem::model::report {

// An op's name; nullopt: memory allocated outside any scope (null in JSON).
using Op = std::optional<std::string>;

struct RecordingFacts {
  std::string file;
  int64_t schema_version = 0;
  std::string host, command;
  int64_t started_ns = 0, ended_ns = 0;
  double duration_s = 0;
  uint64_t events = 0;
  int64_t events_lost = 0;
  uint64_t unknown_frees = 0, live_at_end = 0;
  bool complete = false;  // the recorder stopped cleanly and the daemon confirmed the end
  std::optional<int64_t> command_status;
};

// A buffer live at a type's peak.
struct PeakBuffer {
  int64_t pid = 0;
  std::string name;
  Op op;
  uint64_t id = 0, address = 0, size = 0;
  int64_t allocated_ns = 0;
};
struct OpShare {  // an op's memory at a type's peak
  Op op;
  uint64_t bytes = 0, buffers = 0;
  double share = 0;
};
struct MapEntry {  // the address map at the peak: [pid, address, size, op] in JSON
  int64_t pid = 0;
  uint64_t address = 0, size = 0;
  Op op;
};
struct TimelineBucket {
  uint64_t max = 0;
  std::map<int64_t, uint64_t> by_pid;  // bytes per pid at the bucket's maximum (non-zero)
};

struct TypeReport {
  std::string type;  // proto::kMemTypeKeys
  uint64_t peak_bytes = 0;
  int64_t peak_time_ns = 0;
  double peak_offset_s = 0;
  uint64_t final_bytes = 0;
  uint64_t buffers_at_peak = 0, bytes_at_peak = 0;
  std::vector<PeakBuffer> top_buffers;  // largest first
  std::vector<OpShare> by_op_at_peak;   // largest first
  std::vector<MapEntry> map_at_peak;    // the peak's buffers, largest first (at most 5000)
  std::vector<TimelineBucket> timeline;
  std::optional<uint64_t> capacity_bytes;
  std::optional<uint32_t> bank_count;  // with bank_base
  uint64_t bank_base = 0;
};

struct DeviceReport {
  uint32_t id = 0;
  std::string arch;
  int64_t unique_id = 0;
  std::vector<TypeReport> types;
  std::vector<std::map<std::string, uint64_t>> timeline_by_type;  // per bucket, type -> bytes
};

struct Leak {  // a buffer still live when its process ended
  int64_t pid = 0;
  std::string name;
  uint32_t device = 0;
  std::string type;
  uint64_t id = 0, address = 0, size = 0;
  int64_t allocated_ns = 0, process_ended_ns = 0;
};

struct ProcessReport {
  int64_t pid = 0;
  std::string name, user, cmdline;
  int64_t first_seen_ns = 0;
  std::optional<int64_t> ended_ns;
  bool existing = false;
  uint64_t events = 0, allocs = 0, frees = 0, capture_allocs = 0;
  uint64_t leaked_buffers = 0, leaked_bytes = 0;
  std::map<uint32_t, std::map<std::string, uint64_t>> peak_bytes;  // device -> type -> bytes
  std::optional<int64_t> ns_pid;
  std::optional<std::string> container;
};

struct OpPeak {
  uint32_t device = 0;
  std::string type;
  uint64_t peak_bytes = 0, bytes_at_type_peak = 0;
  std::optional<double> share_of_type_peak;
};
struct OpReport {
  Op op;
  uint64_t allocs = 0, bytes_allocated = 0;
  std::vector<OpPeak> peaks;
};

struct Held {  // bytes of a (device, type)
  uint32_t device = 0;
  std::string type;
  uint64_t bytes = 0;
};
struct OpHeld {
  Op op;
  uint32_t device = 0;
  std::string type;
  uint64_t bytes = 0;
};
struct Mark {
  int64_t pid = 0;
  std::string name;
  Op scope;
  int64_t time_ns = 0;
  double offset_s = 0;
  std::vector<Held> held;
  std::vector<OpHeld> by_op;
};
struct TypeGrowth {
  uint32_t device = 0;
  std::string type;
  uint64_t first_bytes = 0, last_bytes = 0;
  int64_t growth_bytes = 0;
  double per_interval_bytes = 0;
  int64_t min_step_bytes = 0, max_step_bytes = 0;
};
struct OpGrowth {
  Op op;
  uint32_t device = 0;
  std::string type;
  int64_t growth_bytes = 0;
  double per_interval_bytes = 0;
};
struct Growth {  // a mark name repeated by one process
  int64_t pid = 0;
  std::string name;
  uint64_t marks = 0, intervals = 0;
  std::vector<TypeGrowth> by_type;
  std::vector<OpGrowth> by_op;
};
struct PhasesReport {
  uint64_t marks_total = 0;
  std::vector<Mark> marks;  // the first kMaxListed
  std::vector<Growth> growth;
};

// Where a peak of the advice happened (absent when the peak is 0).
struct PeakAt {
  int64_t time_ns = 0;
  double offset_s = 0;
  int64_t pid = 0;
  Op op;
};
struct Region {  // TRACE or L1_SMALL per bank; nullopt `peak_per_bank_bytes`: no bank count
  std::optional<uint64_t> peak_per_bank_bytes;
  uint32_t bank_count = 0;
  uint64_t alignment = 0, configured_per_bank_bytes = 0;
  std::optional<PeakAt> at;
};
struct L1Advice {  // nullopt bank_size_bytes: no bank count
  std::optional<uint64_t> bank_size_bytes;
  uint64_t peak_per_core_bytes = 0, headroom_per_core_bytes = 0;
  uint64_t l1_buffers_peak_per_bank_bytes = 0, cb_peak_per_core_bytes = 0;
  std::optional<PeakAt> at;
};
struct Advice {
  uint32_t device = 0;
  std::string arch;
  Region trace, l1_small;
  L1Advice l1;
};

struct ComparisonRow {
  uint32_t device = 0;
  std::string type;
  std::optional<std::string> op;  // nullopt: the type's peak
  uint64_t baseline_bytes = 0, bytes = 0;
  std::optional<double> growth_pct;  // nullopt: nothing in the baseline
  bool exceeded = false;
};
struct Comparison {
  std::string baseline;  // the baseline's recording file
  std::optional<double> max_growth_pct;
  std::vector<ComparisonRow> rows;
  bool exceeded = false;
};

struct Report {
  RecordingFacts recording;
  std::vector<DeviceReport> devices;
  uint64_t timeline_buckets = 0;
  std::vector<Leak> leaks;
  uint64_t leaked_bytes = 0;
  std::vector<ProcessReport> processes;
  std::vector<OpReport> ops;
  PhasesReport phases;
  std::vector<Advice> advice;
  std::optional<Comparison> comparison;
};

// What the advice says where the device was announced without the bank count it needs.
inline constexpr const char* kNoBanksNote =
    "the device was announced without this type's bank count";
inline constexpr const char* kNoL1BanksNote = "the device was announced without L1's bank count";

// `ttmem report --json`'s document.
nlohmann::json ToJson(const Report& r);
std::string ToJsonText(const Report& r);  // indented by 2, as printed
// A document back into a Report (a saved `--json`, e.g. as a baseline). False with *error when
// it is not one (a missing or mistyped field names its path).
[[nodiscard]] bool FromJson(const nlohmann::json& j, Report* r, std::string* error);
// The same from a saved document's text. kNotJson: it is not JSON at all (e.g. a recording);
// kNotAReport: JSON, but not a report (*error names the path of what is wrong).
enum class ReadResult { kOk, kNotJson, kNotAReport };
[[nodiscard]] ReadResult FromJsonText(std::string_view text, Report* r, std::string* error);

}  // namespace ttmem::model::report

#endif  // TTMEM_MODEL_REPORT_H_
