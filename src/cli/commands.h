// commands.h — the ttmem subcommands. Each returns the process exit code.
#ifndef TTMEM_CLI_COMMANDS_H_
#define TTMEM_CLI_COMMANDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/status.h"

namespace ttmem::cli {

// Exit codes: 0 success, 1 runtime failure, 2 usage error or no daemon.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

struct StatusOptions {
  std::string socket;
  bool json = false;
  std::string format = "table";  // table | json | csv | csv,noheader
  std::string query;             // --query FIELDS (implies csv)
  bool list_fields = false;
  std::string source = "daemon";  // daemon | shm (tt-metal's own statistics, no daemon)
  std::string shm_dir = "/dev/shm";
  std::vector<uint32_t> devices;  // empty: all
  double loop_seconds = 0;        // -l: repeat every N seconds
};
int RunStatus(const StatusOptions& o);

// tt-metal's shared-memory statistics in `dir` as a status document ("source": "tt-metal-shm");
// regions that could not be used go to *problems. `proc_root` is normally "/proc".
model::Status ShmStatus(const std::string& dir, const std::string& proc_root,
                        std::vector<std::string>* problems);

struct TopOptions {
  std::string socket;
  std::vector<uint32_t> devices;  // empty: all
  bool all = false;
  uint32_t refresh_ms = 1000;
  bool no_color = false;
  bool readonly = false;  // no signals to processes
};
int RunTop(const TopOptions& o);

struct CleanupOptions {
  bool shm = false;
  bool dry_run = false;
  std::string shm_dir = "/dev/shm";
};
int RunCleanup(const CleanupOptions& o);

// Runs ttmem-sim (installed beside ttmem) with tracking enabled and TTMEM_SOCKET set; `args`
// go through, except --socket, which `ttmem` takes itself.
int RunSim(std::string socket, std::vector<std::string> args, const char* argv0);

struct RecordOptions {
  std::string socket;
  std::string output;                // -o FILE.sqlite
  int pid = -1;                      // --pid P: only this process
  std::vector<std::string> command;  // -- CMD ARGS...: run it, stop when it exits
  bool force = false;                // replace an existing file
  bool quiet = false;
};
int RunRecord(const RecordOptions& o);

struct SnapshotOptions {
  std::string socket;
  int pid = 0;
  int device = -1;     // -d: only this device
  std::string output;  // -o FILE: the JSON
  bool json = false;   // print the JSON instead of the summary
};
int RunSnapshot(const SnapshotOptions& o);

struct ReportOptions {
  std::string input;
  bool json = false;
  std::string html;                  // --html OUT
  std::string trace;                 // --trace OUT.json: Chrome trace-event JSON
  uint32_t top = 10;                 // buffers listed at each peak
  bool advise = false;               // --advise: the sizing advice
  std::string baseline;              // --baseline OLD: compare peaks with OLD
  std::optional<double> max_growth;  // --max-growth PCT: exit 1 when a peak grew more
};
int RunReport(const ReportOptions& o);

// `ttmem pick` (issue 28): which PCIe devices can hold a need now (pick.cc, pick_decide.h).
struct PickCommandOptions {
  std::string socket;
  uint32_t n = 1;
  std::string dram, l1, l1_small, trace;  // BYTES (over the type's banks) or BYTES/bank
  std::string need;                       // a recording, or a report saved with --json
  bool exclusive = false;
  std::string arch;
  std::string format = "env";  // env | list | json
};
int RunPick(const PickCommandOptions& o);

void PrintError(const std::string& message);
// The daemon's status as the model; false with *error (the fix named) when it cannot be had.
class QueryClient;
[[nodiscard]] bool RequestStatus(QueryClient& q, model::Status* out, std::string* error);
// `ttmem status --json`'s text of a status.
std::string StatusJsonText(const model::Status& s);
// Whether `dir` is a directory to read tt-metal's statistics from; says why not (PrintError).
bool ShmDirUsable(const std::string& dir);

}  // namespace ttmem::cli

#endif  // TTMEM_CLI_COMMANDS_H_
