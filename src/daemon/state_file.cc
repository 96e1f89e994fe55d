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
  void* base =
      ::mmap(nullptr, Bytes(kInitialSlots), PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (base == MAP_FAILED) {
    *error = fmt::format("cannot map a state memfd: {}", std::strerror(errno));
    return nullptr;
  }
  std::unique_ptr<StateFile> s(new StateFile());
  s->fd_ = std::move(fd);
  s->base_ = base;
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
  void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (base == MAP_FAILED) {
    *error = fmt::format("cannot map the state memfd: {}", std::strerror(errno));
    return nullptr;
  }
  std::unique_ptr<StateFile> s(new StateFile());
  s->fd_ = std::move(fd);
  s->base_ = base;
  s->capacity_ = (size - sizeof(StateHeader)) / sizeof(StateSlot);
  StateHeader h;
  std::memcpy(&h, base, sizeof(h));
  if (h.magic != kStateMagic || h.version != kStateVersion || h.pid != pid) {
    *error = "state memfd belongs to another process or version";
    return nullptr;
  }
  return s;
}

StateFile::~StateFile() {
  if (base_ != nullptr) ::munmap(base_, Bytes(capacity_));
}

uint64_t StateFile::ForEach(
    const std::function<void(uint32_t, uint64_t, const ledger::LiveBuffer&)>& fn) {
  uint64_t bad = 0;
  index_.clear();
  free_slots_.clear();
  for (uint64_t i = capacity_; i > 0; --i) {
    StateSlot slot;
    std::memcpy(&slot, &slots()[i - 1], sizeof(slot));  // copy before checking: hostile memory
    bool valid = slot.live == 1 && slot.type < ledger::kNumTypes && slot.device < 1024 &&
                 (slot.flags & ~1u) == 0 &&
                 !index_.count(ledger::Process::Key{slot.device, slot.buffer_id});
    if (slot.live != 0 && !valid) ++bad;
    if (!valid) {
      std::memset(&slots()[i - 1], 0, sizeof(StateSlot));
      free_slots_.push_back(static_cast<uint32_t>(i - 1));
      continue;
    }
    index_.emplace(ledger::Process::Key{slot.device, slot.buffer_id}, static_cast<uint32_t>(i - 1));
    fn(slot.device, slot.buffer_id,
       ledger::LiveBuffer{slot.address, slot.size, slot.type, (slot.flags & 1) != 0});
  }
  return bad;
}

bool StateFile::Grow() {
  uint64_t next = capacity_ * 2;
  if (next > kMaxSlots || ::ftruncate(fd_.get(), static_cast<off_t>(Bytes(next))) != 0)
    return false;
  void* base = ::mremap(base_, Bytes(capacity_), Bytes(next), MREMAP_MAYMOVE);
  if (base == MAP_FAILED) return false;
  base_ = base;
  for (uint64_t i = next; i > capacity_; --i) free_slots_.push_back(static_cast<uint32_t>(i - 1));
  capacity_ = next;
  header()->capacity = next;
  return true;
}

bool StateFile::Put(uint32_t device, uint64_t buffer_id, const ledger::LiveBuffer& b) {
  ledger::Process::Key key{device, buffer_id};
  auto it = index_.find(key);
  uint32_t slot;
  if (it != index_.end()) {
    slot = it->second;
  } else {
    if (free_slots_.empty() && !Grow()) return false;
    slot = free_slots_.back();
    free_slots_.pop_back();
    index_.emplace(key, slot);
  }
  slots()[slot] = StateSlot{
      buffer_id, b.address, b.size, device, b.type, static_cast<uint8_t>(b.hooked ? 1 : 0), 1, 0};
  return true;
}

void StateFile::Erase(uint32_t device, uint64_t buffer_id) {
  auto it = index_.find(ledger::Process::Key{device, buffer_id});
  if (it == index_.end()) return;
  slots()[it->second].live = 0;
  free_slots_.push_back(it->second);
  index_.erase(it);
}

void StateFile::SetCounters(uint64_t unknown_frees, uint64_t duplicate_allocs) {
  header()->unknown_frees = unknown_frees;
  header()->duplicate_allocs = duplicate_allocs;
}

}  // namespace ttmem::daemon
