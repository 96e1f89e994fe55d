#include "cli/recording.h"

#include <fmt/format.h>

namespace ttmem::cli {

const char* const kRecordingSchema = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE memory_types(code INTEGER PRIMARY KEY, name TEXT NOT NULL);
INSERT INTO memory_types VALUES (0,'dram'),(1,'l1'),(2,'system_memory'),(3,'l1_small'),
                                (4,'trace'),(5,'cb'),(6,'kernel');
CREATE TABLE event_kinds(code INTEGER PRIMARY KEY, name TEXT NOT NULL);
INSERT INTO event_kinds VALUES (1,'alloc'),(2,'free'),(3,'live'),(4,'reclaim'),(5,'mark');
CREATE TABLE devices(
  id INTEGER PRIMARY KEY,
  arch TEXT,
  unique_id INTEGER,
  num_cores INTEGER,
  first_seen_ns INTEGER NOT NULL);
CREATE TABLE capacities(
  device INTEGER NOT NULL,
  type INTEGER NOT NULL,
  capacity_bytes INTEGER NOT NULL,
  bank_count INTEGER NOT NULL,
  bank_base INTEGER NOT NULL,
  PRIMARY KEY(device, type));
CREATE TABLE processes(
  id INTEGER PRIMARY KEY,
  pid INTEGER NOT NULL,
  name TEXT,
  cmdline TEXT,
  uid INTEGER,
  user TEXT,
  started_unix_ms INTEGER,
  first_seen_ns INTEGER NOT NULL,
  ended_ns INTEGER,
  reclaimed_bytes INTEGER,
  existing INTEGER NOT NULL DEFAULT 0,
  ns_pid INTEGER,
  container TEXT);
CREATE TABLE events(
  seq INTEGER PRIMARY KEY,
  time_ns INTEGER NOT NULL,
  process INTEGER NOT NULL REFERENCES processes(id),
  pid INTEGER NOT NULL,
  device INTEGER NOT NULL,
  type INTEGER,
  kind INTEGER NOT NULL REFERENCES event_kinds(code),
  buffer_id INTEGER NOT NULL,
  address INTEGER NOT NULL,
  size INTEGER NOT NULL,
  capture INTEGER NOT NULL,
  resync INTEGER NOT NULL,
  op INTEGER);
CREATE TABLE op_names(
  process INTEGER NOT NULL REFERENCES processes(id),
  id INTEGER NOT NULL,
  name TEXT NOT NULL,
  PRIMARY KEY(process, id));
)sql";

const char* const kRecordingIndices = R"sql(
CREATE INDEX IF NOT EXISTS events_by_process ON events(process, seq);
CREATE INDEX IF NOT EXISTS events_by_device_type ON events(device, type, seq);
CREATE INDEX IF NOT EXISTS processes_by_pid ON processes(pid);
)sql";

Db::~Db() {
  if (db_) sqlite3_close(db_);
}

bool Db::Open(const std::string& path, int flags, std::string* error) {
  if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    *error = fmt::format("cannot open {}: {}", path, Message());
    return false;
  }
  sqlite3_busy_timeout(db_, 2000);
  return true;
}

bool Db::Exec(const char* sql, std::string* error) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    *error = msg ? msg : Message();
    sqlite3_free(msg);
    return false;
  }
  return true;
}

Stmt::Stmt(const Db& db, const char* sql) {
  if (sqlite3_prepare_v2(db.get(), sql, -1, &s_, nullptr) != SQLITE_OK) s_ = nullptr;
}

Stmt::~Stmt() {
  sqlite3_finalize(s_);
}

Stmt& Stmt::Bind(int i, int64_t v) {
  sqlite3_bind_int64(s_, i, v);
  return *this;
}

Stmt& Stmt::Bind(int i, const std::string& v) {
  sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

Stmt& Stmt::BindNull(int i) {
  sqlite3_bind_null(s_, i);
  return *this;
}

int Stmt::Step() {
  return sqlite3_step(s_);
}

bool Stmt::Run() {
  int rc = sqlite3_step(s_);
  sqlite3_reset(s_);
  return rc == SQLITE_DONE || rc == SQLITE_ROW;
}

void Stmt::Reset() {
  sqlite3_reset(s_);
}

std::string Stmt::Text(int col) const {
  const unsigned char* t = sqlite3_column_text(s_, col);
  return t ? std::string(reinterpret_cast<const char*>(t)) : std::string();
}

RecordingSchema RecordingSchema::Of(const std::string& meta_value) {
  for (int v = 1; v <= kRecordingSchemaVersion; ++v)
    if (meta_value == std::to_string(v)) return RecordingSchema{v};
  return RecordingSchema{};
}

}  // namespace ttmem::cli
