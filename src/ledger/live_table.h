// live_table.h — one process's live buffers: a dense array of entries and an open-addressing
// index over it (linear probing, backward-shift deletion, load at most 0.7).
//
// Why not std::unordered_set: its nodes lie wherever malloc put them and iterating walks a
// linked list, a cache miss per buffer. Copying a process's 1 M buffers took the loop 100 ms, so
// a snapshot stalled everyone (issue 26); from the array it is one sequential copy. Lookups
// cost the same (one probe into a 4-byte index, one compare in the array), and memory per buffer
// stays about what the nodes cost (docs/benchmarks.md, BM_MemoryPerLiveBuffer).
//
// Iterators and references are invalidated by insert and erase (erase moves the last entry into
// the hole); nothing keeps one across a change.
#ifndef TTMEM_LEDGER_LIVE_TABLE_H_
#define TTMEM_LEDGER_LIVE_TABLE_H_

#include <sys/random.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace ttmem::ledger {

template <typename Entry>
class LiveTable {
 public:
  using const_iterator = typename std::vector<Entry>::const_iterator;
  const_iterator begin() const { return entries_.begin(); }
  const_iterator end() const { return entries_.end(); }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

  // By identity (Entry::id, Entry::device).
  const_iterator find(const Entry& probe) const {
    if (index_.empty()) return end();
    for (size_t i = Home(probe); index_[i] != 0; i = (i + 1) & mask_) {
      const Entry& e = entries_[index_[i] - 1];
      if (e.id == probe.id && e.device == probe.device) return begin() + (index_[i] - 1);
    }
    return end();
  }

  // The entry with e's identity: the one already there (false), or e, added (true).
  std::pair<const_iterator, bool> insert(const Entry& e) {
    if ((entries_.size() + 1) * 10 > index_.size() * 7)
      Rehash(index_.empty() ? 16 : index_.size() * 2);
    size_t i = Home(e);
    for (; index_[i] != 0; i = (i + 1) & mask_) {
      const Entry& x = entries_[index_[i] - 1];
      if (x.id == e.id && x.device == e.device) return {begin() + (index_[i] - 1), false};
    }
    // Grown by half, not doubled: at 10 M buffers the slack is what a buffer costs most.
    if (entries_.size() == entries_.capacity())
      entries_.reserve(entries_.capacity() + entries_.capacity() / 2 + 16);
    entries_.push_back(e);
    index_[i] = static_cast<uint32_t>(entries_.size());
    return {end() - 1, true};
  }

  void erase(const_iterator it) {
    const size_t pos = static_cast<size_t>(it - begin());
    Unindex(SlotOf(pos));
    const size_t last = entries_.size() - 1;
    if (pos != last) {
      index_[SlotOf(last)] = static_cast<uint32_t>(pos + 1);
      entries_[pos] = entries_[last];
    }
    entries_.pop_back();
    // A process that freed most of what it held gives the memory back.
    if (index_.size() > 64 && entries_.size() * 8 < index_.size()) {
      entries_.shrink_to_fit();
      Rehash(index_.size() / 4);
    }
  }

 private:
  // Keyed with a secret drawn once per process: ids come from clients, and with a fixed hash a
  // client could pick ids that share one probe run (every insert then walks all of them, on the
  // daemon's loop). Iteration order is the array's, so the key changes no output.
  static uint64_t Key() {
    static const uint64_t key = [] {
      uint64_t k = 0;
      if (::getrandom(&k, sizeof(k), GRND_NONBLOCK) != static_cast<ssize_t>(sizeof(k)))
        k = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
            reinterpret_cast<uintptr_t>(&k);
      return k | 1;
    }();
    return key;
  }
  static uint64_t Mix(uint64_t h) {  // MurmurHash3's finalizer
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ull;
    return h ^ (h >> 33);
  }
  size_t Home(const Entry& e) const {
    const uint64_t h = Mix(e.id ^ Key()) ^ Mix(uint64_t{e.device} + Key() * 0x9E3779B97F4A7C15ull);
    return static_cast<size_t>(h) & mask_;
  }
  // The index slot that points at entries_[pos] (it is there).
  size_t SlotOf(size_t pos) const {
    size_t i = Home(entries_[pos]);
    while (index_[i] != pos + 1) i = (i + 1) & mask_;
    return i;
  }
  // Empties slot i, shifting back the entries of its probe run that may move into it.
  void Unindex(size_t i) {
    index_[i] = 0;
    for (size_t j = (i + 1) & mask_; index_[j] != 0; j = (j + 1) & mask_) {
      const size_t k = Home(entries_[index_[j] - 1]);
      // k cyclically in (i, j]: the entry at j is still reachable; leave it.
      if (i <= j ? (i < k && k <= j) : (i < k || k <= j)) continue;
      index_[i] = index_[j];
      index_[j] = 0;
      i = j;
    }
  }
  void Rehash(size_t slots) {
    index_.assign(slots, 0);
    mask_ = slots - 1;
    for (size_t pos = 0; pos < entries_.size(); ++pos) {
      size_t i = Home(entries_[pos]);
      while (index_[i] != 0) i = (i + 1) & mask_;
      index_[i] = static_cast<uint32_t>(pos + 1);
    }
  }

  std::vector<Entry> entries_;
  std::vector<uint32_t> index_;  // 0: empty; else 1 + the entry's position; a power of two long
  size_t mask_ = 0;
};

}  // namespace ttmem::ledger

#endif  // TTMEM_LEDGER_LIVE_TABLE_H_
