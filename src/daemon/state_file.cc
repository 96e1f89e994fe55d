#include "daemon/state_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace ttmem::daemon {
namespace {

constexpr uint32_t kStateMagic = 0x444d5454;  // "TTMD"
constexpr uint32_t kStateVersion = 1;
constexpr uint64_t kInitialSlots = 1024;
constexpr uint64_t kMaxSlots = 1ull << 26;  // 64 Mi live buffers per process (2 GiB of table)

uint64_t Bytes(uint64_t slots) {
  return sizeof(StateHeader) + slots * sizeof(StateSlot);
}

}  // namespace

std::unique_ptr<StateFile> StateFile::Create(pid_t pid, std::string* error) {
  base::UniqueFd fd(::memfd_create("ttmemd-state", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd || ::ftruncate(fd.get(), static_cast<off_t>(Bytes(kInitialSlots))) != 0 ||
      ::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK) != 0) {
    *error = fmt::format("cannot create a state memfd: {}", std::strerror(errno));
    return nullptr;
  }
  base::Mapping map = base::Mapping::Shared(fd.get(), Bytes(kInitialSlots), PROT_READ | PROT_WRITE);
  if (!map) {
    *error = fmt::format("cannot map a state memfd: {}", std::strerror(errno));
    return nullptr;
  }
  std::unique_ptr<StateFile> s(new StateFile());
  s->fd_ = std::move(fd);
  s->map_ = std::move(map);
  s->capacity_ = kInitialSlots;
  *s->header() = StateHeader{kStateMagic, kStateVersion, pid, 0, kInitialSlots, 0, 0, {}};
  for (uint64_t i = kInitialSlots; i > 0; --i)
    s->free_slots_.push_back(static_cast<uint32_t>(i - 1));
  return s;
}

std::unique_ptr<StateFile> StateFile::Open(pid_t pid, base::UniqueFd fd, std::string* error) {
  int seals = ::fcntl(fd.get(), F_GET_SEALS);
  struct stat st {};
  if (seals < 0 || (seals & F_SEAL_SHRINK) == 0 || ::fstat(fd.get(), &st) != 0 ||
      !S_ISREG(st.st_mode)) {
    *error = "state fd is not a memfd sealed against shrinking";
    return nullptr;
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < Bytes(1) || (size - sizeof(StateHeader)) % sizeof(StateSlot) != 0 ||
      size > Bytes(kMaxSlots)) {
    *error = fmt::format("state memfd has an impossible size {}", size);
    return nullptr;
  }
  base::Mapping map = base::Mapping::Shared(fd.get(), size, PROT_READ | PROT_WRITE);
  if (!map) {
    *error = fmt::format("cannot map the state memfd: {}", std::strerror(errno));
    return nullptr;
  }
  std::unique_ptr<StateFile> s(new StateFile());
  s->fd_ = std::move(fd);
  s->map_ = std::move(map);
  s->capacity_ = (size - sizeof(StateHeader)) / sizeof(StateSlot);
  StateHeader h;
  std::memcpy(&h, s->map_.get(), sizeof(h));
  if (h.magic != kStateMagic || h.version != kStateVersion || h.pid != pid) {
    *error = "state memfd belongs to another process or version";
    return nullptr;
  }
  return s;
}

StateFile::~StateFile() = default;

uint64_t StateFile::ForEach(
    const std::function<bool(uint32_t, uint32_t, uint64_t, const ledger::LiveBuffer&)>& keep) {
  uint64_t bad = 0;
  live_ = 0;
  free_slots_.clear();
  for (uint64_t i = capacity_; i > 0; --i) {
    const uint32_t index = static_cast<uint32_t>(i - 1);
    StateSlot slot;
    std::memcpy(&slot, &slots()[index], sizeof(slot));  // copy before checking: hostile memory
    bool valid = slot.live == 1 && slot.type < proto::kNumMemTypes && slot.device < 1024 &&
                 (slot.flags & ~1u) == 0;
    if (slot.live != 0 && !valid) ++bad;
    if (valid && keep(index, slot.device, slot.buffer_id,
                      ledger::LiveBuffer{slot.address, slot.size, index, slot.type,
                                         (slot.flags & 1) != 0})) {
      ++live_;
      continue;
    }
    std::memset(&slots()[index], 0, sizeof(StateSlot));
    free_slots_.push_back(index);
  }
  return bad;
}

bool StateFile::Grow() {
  uint64_t next = capacity_ * 2;
  if (next > kMaxSlots || ::ftruncate(fd_.get(), static_cast<off_t>(Bytes(next))) != 0)
    return false;
  if (!map_.Resize(Bytes(next))) return false;
  for (uint64_t i = next; i > capacity_; --i) free_slots_.push_back(static_cast<uint32_t>(i - 1));
  capacity_ = next;
  header()->capacity = next;
  return true;
}

uint32_t StateFile::Put(uint32_t slot, uint32_t device, uint64_t buffer_id,
                        const ledger::LiveBuffer& b) {
  if (slot == kNoSlot || slot >= capacity_) {
    if (free_slots_.empty() && !Grow()) return kNoSlot;
    slot = free_slots_.back();
    free_slots_.pop_back();
    ++live_;
  }
  slots()[slot] = StateSlot{
      buffer_id, b.address, b.size, device, b.type, static_cast<uint8_t>(b.hooked ? 1 : 0), 1, 0};
  return slot;
}

void StateFile::Release(uint32_t slot) {
  if (slot >= capacity_ || slots()[slot].live == 0) return;
  slots()[slot].live = 0;
  free_slots_.push_back(slot);
  --live_;
}

void StateFile::SetCounters(uint64_t unknown_frees, uint64_t duplicate_allocs) {
  header()->unknown_frees = unknown_frees;
  header()->duplicate_allocs = duplicate_allocs;
}

}  // namespace ttmem::daemon
