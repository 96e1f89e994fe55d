// snapshot.h — the forensic snapshot of one process as a typed value (issue 27): what the daemon
// answers to {"cmd": "snapshot"} (docs/protocol.md, "snapshot"), what libttmem saves at out of
// memory and what `ttmem snapshot` reads. Written (fast: 200,000 buffers as text) and read
// (tolerantly) here only.
#ifndef TTMEM_MODEL_SNAPSHOT_H_
#define TTMEM_MODEL_SNAPSHOT_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace ttmem::model {

struct SnapshotBuffer {
  pid_t pid = 0;
  uint32_t device = 0;
  std::string type;
  uint64_t address = 0, size = 0, id = 0;
  std::optional<std::string> op;  // nullopt: outside any scope
  bool capture = false;
  std::optional<uint64_t> age_s;  // nullopt: unknown (restored, or re-sent by a resync)
};
struct SnapshotOp {  // the process's live memory by (op, device, type)
  std::optional<std::string> op;
  uint32_t device = 0;
  std::string type;
  uint64_t bytes = 0, buffers = 0;
};
struct SnapshotHolder {
  pid_t pid = 0;
  std::string name;
  uint64_t bytes = 0;
};
struct FreeBlockClass {  // free blocks of [min_bytes, 2 x min_bytes)
  uint64_t min_bytes = 0, blocks = 0, bytes = 0;
};
// A (device, type) the process holds, as the device stood.
struct SnapshotType {
  uint32_t device = 0;
  std::string type;
  uint64_t process_bytes = 0, process_buffers = 0;
  uint64_t used_bytes = 0;  // every process
  std::optional<uint64_t> capacity_bytes;
  std::vector<SnapshotHolder> holders;  // largest first, at most 8
  uint64_t holder_count = 0;
  // Where the bank geometry is known (bank_count set): one bank's free space.
  std::optional<uint32_t> bank_count;
  uint64_t bank_base = 0, bank_size = 0;
  std::optional<uint64_t> largest_free_block_bytes, free_blocks;
  std::vector<FreeBlockClass> free_block_histogram;
  std::string map;
};
struct Snapshot {
  pid_t pid = 0;
  std::string name;
  uint64_t time_unix_ms = 0;
  std::optional<std::string> reason;
  std::optional<std::string> error;  // set: nothing else below is
  uint64_t live_buffers = 0;
  bool truncated = false;
  std::vector<SnapshotBuffer> buffers;  // by device, type, address
  std::vector<SnapshotOp> by_op;        // largest first
  std::vector<SnapshotType> types;
  std::string summary;
};

// Snapshot::error of a document that is not a JSON object.
inline constexpr const char* kSnapshotNotAnObject = "the snapshot is not a JSON object";

// As the daemon sends it (compact JSON, invalid UTF-8 replaced).
std::string ToJsonText(const Snapshot& s);
// A snapshot document (a reply, or a file libttmem saved); what is missing reads as empty, a
// reply that is not an object as an error.
Snapshot ReadSnapshot(const nlohmann::json& doc);
Snapshot ParseSnapshot(std::string_view text);

}  // namespace ttmem::model

#endif  // TTMEM_MODEL_SNAPSHOT_H_
