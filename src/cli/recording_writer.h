// recording_writer.h — every write of a recording (issue 27): one named statement per table of
// recording.cc's schema, the event columns by name, every result checked. `ttmem record` keeps
// what a recording is about (which process row a pid is, what has ended); this writes it.
#ifndef TTMEM_CLI_RECORDING_WRITER_H_
#define TTMEM_CLI_RECORDING_WRITER_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "cli/recording.h"
#include "model/notices.h"
#include "protocol/wire.h"

namespace ttmem::cli {

// A row of `processes` (what is unknown stays NULL: a pid the daemon never introduced).
struct ProcessValues {
  pid_t pid = 0;
  std::optional<std::string> name, cmdline, user;
  std::optional<int64_t> uid, started_unix_ms;
  int64_t first_seen_ns = 0;
  bool existing = false;
  std::optional<int64_t> ns_pid;
  std::optional<std::string> container;
};

class RecordingWriter {
 public:
  explicit RecordingWriter(Db& db);
  bool ok() const;  // every statement prepared

  [[nodiscard]] bool Begin(std::string* error);
  [[nodiscard]] bool Commit(std::string* error);
  // `n` events, event i of process row rows[i].
  [[nodiscard]] bool Events(const proto::EventRecord* events, const int64_t* rows, size_t n,
                            std::string* error);
  // A new row of `processes`; its id in *row.
  [[nodiscard]] bool Process(const ProcessValues& p, int64_t* row, std::string* error);
  [[nodiscard]] bool ProcessEnd(int64_t row, uint64_t time_ns, uint64_t reclaimed_bytes,
                                std::string* error);
  // A device and its capacities per type (first seen at `now_ns` unless seen before).
  [[nodiscard]] bool Device(const model::DeviceNotice& d, uint64_t now_ns, std::string* error);
  [[nodiscard]] bool OpName(int64_t row, uint64_t id, const std::string& name, std::string* error);
  // A row of `meta`.
  [[nodiscard]] static bool Meta(Db& db, const std::string& key, const std::string& value,
                                 std::string* error);

 private:
  static constexpr size_t kRowsPerInsert = 64;  // events per multi-row INSERT
  // The events table's columns, as the INSERTs name them.
  enum EventColumn {
    kTime = 1,
    kProcess,
    kPid,
    kDevice,
    kType,
    kKind,
    kBufferId,
    kAddress,
    kSize,
    kCapture,
    kResync,
    kOp,
    kEventColumns = kOp
  };
  void BindEvent(Stmt& st, int base, const proto::EventRecord& e, int64_t row);
  bool Fail(const char* what, std::string* error);

  Db& db_;
  Stmt event_, events_, process_, process_end_, device_, capacity_, op_name_;
  bool in_tx_ = false;
};

}  // namespace ttmem::cli

#endif  // TTMEM_CLI_RECORDING_WRITER_H_
