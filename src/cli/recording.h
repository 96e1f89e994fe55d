// recording.h — the SQLite recording `ttmem record` writes and `ttmem report` reads
// (schema: docs/recording.md). A thin RAII layer over SQLite's C API.
#ifndef TTMEM_CLI_RECORDING_H_
#define TTMEM_CLI_RECORDING_H_

#include <sqlite3.h>

#include <cstdint>
#include <string>

namespace ttmem::cli {

// 2 (issue 17): events.op (the allocating scope's id in its process; a mark's: the scope it was
// made in), event kind 5 (mark: buffer_id is its name's id), table op_names. `ttmem report`
// reads 1 and 2.
// 3 (issue 18): processes.ns_pid (its pid in its own pid namespace, when it differs) and
// processes.container (its container's id). `ttmem report` reads 1 to 3.
inline constexpr int kRecordingSchemaVersion = 3;

// What a recording's schema version (its meta "schema_version") says it has: the one place the
// reader asks (`ttmem report` reads 1 to kRecordingSchemaVersion).
struct RecordingSchema {
  int version = 0;                                      // 0: not a version this ttmem reads
  bool has_ops() const { return version >= 2; }         // events.op, op_names, mark events
  bool has_containers() const { return version >= 3; }  // processes.ns_pid and .container
  // The version a meta value names, if this ttmem reads it.
  static RecordingSchema Of(const std::string& meta_value);
};

// The schema, created in an empty database (tables only; indices come at the end of a recording).
extern const char* const kRecordingSchema;
// The indices, created when a recording ends (and by `ttmem report` when they are missing).
extern const char* const kRecordingIndices;

class Db {
 public:
  Db() = default;
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  // Opens (flags: SQLITE_OPEN_*). False with *error naming the file and the reason.
  [[nodiscard]] bool Open(const std::string& path, int flags, std::string* error);
  // Runs SQL with no results. False with *error.
  [[nodiscard]] bool Exec(const char* sql, std::string* error);
  sqlite3* get() const { return db_; }
  std::string Message() const { return db_ ? sqlite3_errmsg(db_) : "not open"; }

 private:
  sqlite3* db_ = nullptr;
};

class Stmt {
 public:
  Stmt(const Db& db, const char* sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return s_ != nullptr; }
  Stmt& Bind(int i, int64_t v);
  Stmt& Bind(int i, const std::string& v);
  Stmt& BindNull(int i);
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step();
  // Runs to completion and resets for the next use. False on error.
  [[nodiscard]] bool Run();
  void Reset();
  int64_t Int(int col) const { return sqlite3_column_int64(s_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  std::string Text(int col) const;

 private:
  sqlite3_stmt* s_ = nullptr;
};

}  // namespace ttmem::cli

#endif  // TTMEM_CLI_RECORDING_H_
