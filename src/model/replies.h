// replies.h — the daemon's other query replies as typed values (issue 27): `buffers`, `history`
// and `fragmentation` (docs/protocol.md §3). The daemon writes them through here; `ttmem top`
// reads them through here, and nothing else parses them. The readers are tolerant, as a monitor
// must be: a refused query ({"error"}) or a malformed reply reads as an empty reply with `error`
// set, never as an exception.
#ifndef TTMEM_MODEL_REPLIES_H_
#define TTMEM_MODEL_REPLIES_H_

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "protocol/mem_types.h"

namespace ttmem::model {

// {"cmd": "buffers", "pid": P}: a process's largest live buffers and its live memory by op.
struct BufferRow {
  uint32_t device = 0;
  std::string type;  // proto::kMemTypeKeys
  uint64_t id = 0, address = 0, size = 0;
  bool capture = false;
  std::optional<std::string> op;  // nullopt: made outside any scope
};
struct OpBytes {
  std::optional<std::string> op;
  uint64_t bytes = 0, buffers = 0;
  std::map<std::string, uint64_t> by_type;  // type key -> bytes (non-zero)
};
struct BuffersReply {
  std::vector<BufferRow> buffers;  // largest first
  uint64_t live_buffers = 0;
  std::vector<OpBytes> by_op;  // largest first
  std::optional<std::string> error;
};

// {"cmd": "history"}: one sample a second per device and per process, oldest first.
struct HistorySample {
  uint64_t unix_ms = 0;
  std::array<uint64_t, proto::kNumMemTypes> used{};  // by type
};
struct HistoryReply {
  uint64_t interval_ms = 0;
  std::map<uint32_t, std::vector<HistorySample>> devices;
  std::map<pid_t, std::vector<HistorySample>> processes;
  std::optional<std::string> error;
};

// {"cmd": "fragmentation"}: per device and type with bank geometry, one bank's free space.
struct FragmentationType {
  std::string type;
  uint32_t bank_count = 0;
  uint64_t bank_base = 0, bank_size = 0;
  uint64_t used_per_bank_bytes = 0, free_per_bank_bytes = 0;
  uint64_t largest_free_block_bytes = 0, free_blocks = 0;
  std::string map;  // ' ' free, '.' up to a third in use, ':' up to two thirds, '#' more
};
struct FragmentationDevice {
  uint32_t id = 0;
  std::vector<FragmentationType> types;
};
struct FragmentationReply {
  std::vector<FragmentationDevice> devices;
  std::optional<std::string> error;
};

// The replies as the daemon sends them (compact JSON, invalid UTF-8 replaced).
std::string ToJsonText(const BuffersReply& r);
std::string ToJsonText(const HistoryReply& r);
std::string ToJsonText(const FragmentationReply& r);

// Tolerant readers of the text the daemon sent (Parse...) or of a parsed reply (Read...): whatever
// is missing or mistyped reads as empty; a refusal or a reply that is not a JSON object sets
// `error`.
BuffersReply ParseBuffersReply(const std::string& text);
HistoryReply ParseHistoryReply(const std::string& text);
FragmentationReply ParseFragmentationReply(const std::string& text);
// The same from a parsed reply (a query client's).
BuffersReply ReadBuffersReply(const nlohmann::json& doc);
HistoryReply ReadHistoryReply(const nlohmann::json& doc);
FragmentationReply ReadFragmentationReply(const nlohmann::json& doc);

}  // namespace ttmem::model

#endif  // TTMEM_MODEL_REPLIES_H_
