// status_json.h — the status model's JSON: written (the daemon's replies, `--source shm`) and read
// (every CLI reader) here only. docs/protocol.md §3 is the contract; key order is the daemon's.
#ifndef TTMEM_MODEL_STATUS_JSON_H_
#define TTMEM_MODEL_STATUS_JSON_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/status.h"

namespace ttmem::model {

// What a writer keeps between documents: each process's serialised parts, by pid, while its
// Revision is unchanged. Serialising every process of 32 devices × 256 processes costs about
// 2.4 ms; copying the unchanged ones about a tenth of that (docs/benchmarks.md).
class JsonMemo {
 public:
  struct Entry {
    Revision revision{};
    std::string process;                                       // its "processes" entry
    std::vector<std::pair<uint32_t, std::string>> on_devices;  // its device entries
    uint64_t seen = 0;                                         // the document that last used it
    size_t next = 0;  // where the next device entry is looked for (devices come in order)
  };
  std::unordered_map<pid_t, Entry>& entries() { return entries_; }
  size_t size() const { return entries_.size(); }
  // Whether a document already wrote every part of process `pid` at `revision`.
  bool Holds(pid_t pid, const Revision& revision) const {
    auto it = entries_.find(pid);
    return revision != Revision{} && it != entries_.end() && it->second.revision == revision &&
           !it->second.process.empty();
  }
  uint64_t NextDocument() { return ++document_; }
  size_t last_size() const { return last_size_; }  // of the last document written with it
  void set_last_size(size_t n) { last_size_ = n; }
  void ForgetUnseen();

 private:
  std::unordered_map<pid_t, Entry> entries_;
  uint64_t document_ = 0;
  size_t last_size_ = 0;
};

// Appends the document to *out (compact JSON). With a memo, the parts of processes whose
// revision is non-zero and unchanged are copied from it.
void WriteJson(const Status& s, std::string* out, JsonMemo* memo = nullptr);
std::string ToJson(const Status& s);

// Reads a document. Absent or mistyped fields keep their defaults (a reader never throws on a
// document); false with *error only when `j` is not a status document at all (not an object, an
// {"error": …} reply, or a "version" other than 1; absent, it is read as 1).
[[nodiscard]] bool FromJson(const nlohmann::json& j, Status* out, std::string* error);
// The same from the text the daemon sent (not JSON: false with *error).
[[nodiscard]] bool FromJsonText(std::string_view text, Status* out, std::string* error);

}  // namespace ttmem::model

#endif  // TTMEM_MODEL_STATUS_JSON_H_
