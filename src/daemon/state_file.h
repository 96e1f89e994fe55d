// state_file.h — a client's live table, kept by the daemon in a memfd the client holds for it.
//
// The daemon creates one per client session, sealed against shrinking, and hands it to the client
// in the hello ack; the client never maps it and hands it back in its next hello. A restarted
// daemon therefore finds every client's live buffers where it left them, resumes each ring from
// the `applied` position it published (records up to there are in the table), and the state is
// exact again without the client's help. The daemon writes an entry before it publishes `applied`
// past the record, so a crash in between replays a record whose effect is already here: the first
// drain after a restore is tolerant (see Session).
//
//   offset 0   StateHeader (64 B)
//   64         StateSlot[capacity] (32 B each)
//
// The client could write into it: everything is validated when it is read back, and a bad table
// is discarded (the client then starts afresh; its own accounts are the only ones at stake).
#ifndef TTMEM_DAEMON_STATE_FILE_H_
#define TTMEM_DAEMON_STATE_FILE_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/mapping.h"
#include "base/unique_fd.h"
#include "ledger/ledger.h"

namespace ttmem::daemon {

struct StateHeader {
  uint32_t magic;    // "TTMD"
  uint32_t version;  // 1
  int32_t pid;       // the client's pid: a table is only restored for the same process
  uint32_t reserved;
  uint64_t capacity;  // slots
  uint64_t unknown_frees;
  uint64_t duplicate_allocs;
  uint64_t pad[3];
};
static_assert(sizeof(StateHeader) == 64);

struct StateSlot {
  uint64_t buffer_id;
  uint64_t address;
  uint64_t size;
  uint32_t device;
  uint8_t type;
  uint8_t flags;  // bit 0: hooked
  uint8_t live;   // 1: in use
  uint8_t pad;
};
static_assert(sizeof(StateSlot) == 32);

class StateFile {
 public:
  static std::unique_ptr<StateFile> Create(pid_t pid, std::string* error);
  // Maps a table handed back by a client. Null (with *error) when it is not a valid table of
  // this process.
  static std::unique_ptr<StateFile> Open(pid_t pid, base::UniqueFd fd, std::string* error);
  ~StateFile();
  StateFile(const StateFile&) = delete;
  StateFile& operator=(const StateFile&) = delete;

  static constexpr uint32_t kNoSlot = 0xffffffffu;

  int fd() const { return fd_.get(); }
  // Writes a live buffer into `slot` (kNoSlot: a new one) and returns the slot; kNoSlot when
  // the table cannot grow. The caller keeps the slot with its own entry (no index here: the
  // ledger's live table is the index, which keeps the daemon's memory per buffer small).
  uint32_t Put(uint32_t slot, uint32_t device, uint64_t buffer_id, const ledger::LiveBuffer& b);
  void Release(uint32_t slot);
  void SetCounters(uint64_t unknown_frees, uint64_t duplicate_allocs);
  // Calls keep(slot, device, id, buffer) for every valid live entry (restore); entries it
  // refuses and invalid ones are released. Returns the number of invalid slots dropped.
  uint64_t ForEach(const std::function<bool(uint32_t slot, uint32_t device, uint64_t buffer_id,
                                            const ledger::LiveBuffer& b)>& keep);
  uint64_t unknown_frees() const { return header()->unknown_frees; }
  uint64_t duplicate_allocs() const { return header()->duplicate_allocs; }
  uint64_t live() const { return live_; }

 private:
  StateFile() = default;
  bool Grow();
  StateHeader* header() const { return static_cast<StateHeader*>(map_.get()); }
  StateSlot* slots() const {
    return reinterpret_cast<StateSlot*>(map_.bytes() + sizeof(StateHeader));
  }

  base::UniqueFd fd_;
  base::Mapping map_;
  uint64_t capacity_ = 0;  // private copy; the header's is only a hint
  std::vector<uint32_t> free_slots_;
  uint64_t live_ = 0;
};

}  // namespace ttmem::daemon

#endif  // TTMEM_DAEMON_STATE_FILE_H_
